"""The resolved settings of a run, and how they are resolved: command line > environment > ini > default."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_zdm.errors import SettingError
from pytest_zdm.lint.catalog import PHASES, is_secret
from pytest_zdm.settings.options import OPTIONS


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one run (see ``OPTIONS`` for what each means)."""

    zdm_target: str
    zdm_attach: Path | None
    zdm_static_config: Path
    zdm_phase: int | None
    zdm_gate: int | None
    zdm_gate_file: Path
    zdm_gate_suites: tuple[str, ...]
    zdm_builtin_suites: bool
    zdm_allow_destructive: bool
    zdm_keep: bool
    zdm_cache_dir: Path
    zdm_run_dir: Path
    zdm_cassandra_version: str
    zdm_cassandra_home: Path | None
    zdm_cassandra_classpath: Path | None
    zdm_proxy_commit: str
    zdm_proxy_binary: Path | None
    zdm_proxy_source: Path | None
    zdm_proxy_source_sha256: str | None
    zdm_cassandra_heap: str
    zdm_fast_boot: bool
    zdm_startup_timeout: float
    zdm_protocol_version: str
    zdm_primary_cluster: str
    zdm_read_mode: str
    zdm_proxy_env: Mapping[str, str]
    zdm_proxy_config: Path | None
    zdm_rehearsal: Path | None
    zdm_keyspace: str | None
    zdm_replication_factor: int
    zdm_consistency_level: str
    zdm_docker_cassandra_image: str
    zdm_docker_proxy_image: str
    zdm_docker_network: str
    zdm_compare_tables: tuple[str, ...]
    zdm_compare_writetime: bool
    zdm_compare_rate: float
    zdm_perf_operations: int
    zdm_perf_rate: float
    zdm_budget_p99_overhead_ms: float
    zdm_budget_error_rate: float
    zdm_request_timeout: float
    zdm_kube_context: str | None
    zdm_kind_cluster: str
    zdm_kubeconfig: Path | None
    zdm_kubectl: str
    zdm_kube_namespace: str
    zdm_kube_origin_service: str
    zdm_kube_target_service: str
    zdm_kube_cql_port: int
    zdm_kube_proxy_service: str
    zdm_kube_proxy_port: int
    zdm_kube_proxy_metrics_port: int
    zdm_kube_proxy_selector: str
    zdm_kube_proxy_deployment: str
    zdm_kube_forward_timeout: float
    zdm_origin_username: str
    zdm_origin_password: str = field(repr=False)
    zdm_target_username: str
    zdm_target_password: str = field(repr=False)
    zdm_origin_password_file: Path | None
    zdm_target_password_file: Path | None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe copy for handing to the supervisor process (secrets included: never log it)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Settings:
        """Inverse of :meth:`to_json`."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "sources":
                continue
            value = data.get(f.name)
            if isinstance(value, str) and "Path" in str(f.type):
                value = Path(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[f.name] = value
        return cls(**values)


def resolve(
    *,
    cli: Mapping[str, str | None],
    ini: Mapping[str, str | None],
    environ: Mapping[str, str],
    rootdir: Path,
) -> Settings:
    """Build :class:`Settings` from raw strings: CLI > environment > ini > default.

    ``is not None`` (never ``or``) decides whether a layer has a value, so an explicit ``false`` or an
    empty string on the command line still overrides the ini file. An empty environment variable counts
    as unset, as shells and CI systems usually mean it.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        raw: str | None = None
        source = "default"
        if opt.on_command_line and cli.get(opt.name) is not None:
            raw, source = cli[opt.name], "command line"
        elif opt.env and environ.get(opt.env):  # an empty variable counts as unset
            raw, source = environ[opt.env], f"environment {opt.env}"
        elif opt.on_command_line and ini.get(opt.name) is not None:
            raw, source = ini[opt.name], "ini"
        elif opt.secret and values.get(f"{opt.name}_file") is not None:
            raw, source = _read_secret(opt.name, values[f"{opt.name}_file"]), f"file ({opt.name}_file)"
        if raw is None:
            values[opt.name] = opt.default(rootdir) if opt.default else None
        else:
            values[opt.name] = opt.parse(opt.name, raw)
        sources[opt.name] = source
    secret_names = [k for k in values["zdm_proxy_env"] if is_secret(k)]
    if secret_names and sources["zdm_proxy_env"] in ("command line", "ini"):
        raise SettingError(
            f"zdm_proxy_env: {', '.join(secret_names)} holds a secret; expected it in the environment "
            f"variable PYTEST_ZDM_PROXY_ENV, never on the command line or in an ini file"
        )
    if values["zdm_cassandra_home"] and values["zdm_cassandra_classpath"]:
        raise SettingError(
            "zdm_cassandra_home, zdm_cassandra_classpath: expected at most one of them, got both"
        )
    if values["zdm_proxy_source_sha256"] and not (
        values["zdm_proxy_source"] and values["zdm_proxy_source"].is_file()
    ):
        raise SettingError(
            "zdm_proxy_source_sha256: expected together with a .tar.gz zdm_proxy_source (a checkout is "
            "identified by its commit)"
        )
    if values["zdm_gate"] is not None and values["zdm_phase"] is None:
        # Gating entry into phase N: the proxy still runs with the configuration of the phase before it.
        values["zdm_phase"] = min(4, max(1, values["zdm_gate"] - 1))
        sources["zdm_phase"] = "zdm_gate"
    if values["zdm_phase"] is not None:
        # The lab rehearses the phase being verified: its proxy routes as that phase does (unless told).
        routing = PHASES[values["zdm_phase"]]
        assert routing is not None  # phases 1-4 have a proxy
        for name, value in zip(("zdm_primary_cluster", "zdm_read_mode"), routing, strict=True):
            if sources[name] == "default":
                values[name], sources[name] = value, f"zdm_phase {values['zdm_phase']}"
    for name in ("zdm_run_dir", "zdm_static_config"):  # relative paths are relative to the rootdir
        if not values[name].is_absolute():
            values[name] = rootdir / values[name]
    return Settings(**values, sources=sources)


def _read_secret(name: str, path: Path) -> str:
    """A secret from a file: its first line (files written by hand or by Kubernetes end with a newline)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingError(f"{name}_file: cannot read {path} ({type(exc).__name__})") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


def readme_table() -> str:
    """The settings reference (docs/settings.md), generated from ``OPTIONS`` so the two cannot drift apart."""
    rows = ["| ini | command line | environment | default | what it sets |", "|---|---|---|---|---|"]
    for opt in OPTIONS:
        default = opt.default(Path("<rootdir>")) if opt.default else ""
        if opt.name == "zdm_cache_dir":
            default = "user cache dir/pytest-zdm"
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        if isinstance(default, tuple):
            shown = ",".join(default)
        cli = f"`{opt.cli}`" if opt.on_command_line else "never (secret)"
        rows.append(f"| `{opt.name}` | {cli} | {opt.env or ''} | {shown} | {opt.help} |")
    return "\n".join(rows)
