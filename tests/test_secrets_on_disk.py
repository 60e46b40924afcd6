"""Issue 18, secrets on disk: no password or secret proxy setting in any file a run leaves.

``PYTEST_ZDM_TARGET_PASSWORD=... pytest`` left the passwords (and a secret in ``PYTEST_ZDM_PROXY_ENV``) in
``reports/runs/<run>/request.json``, kept after the run. The supervisor now gets its settings without
secrets in that file and the secrets through a pipe, read once.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pytest_zdm.assertions import wait_until
from pytest_zdm.environment.lifecycle import supervisor_request
from pytest_zdm.environment.supervisor import read_request
from pytest_zdm.settings import Settings, resolve

SECRETS = {
    "PYTEST_ZDM_ORIGIN_PASSWORD": "origin-Pa55word-7f3c",
    "PYTEST_ZDM_TARGET_PASSWORD": "target-Pa55word-91ab",
}
PROXY_SECRET = "proxy-env-Pa55word-c0de"
PROXY_ENV = f"ZDM_ORIGIN_PASSWORD={PROXY_SECRET},ZDM_LOG_LEVEL=DEBUG"


def _files_holding(root: Path, values: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {v[:6]}..." for v in values if v.encode() in data]
    return found


def test_a_run_leaves_no_secret_in_any_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Real supervisor, real run directory: the environment fails to start (no jars), every file is read."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYTEST_ZDM_PROXY_ENV", PROXY_ENV)
    empty = tmp_path / "jars"
    empty.mkdir()
    pytester.makepyfile("def test_a(zdm_env): pass\n")
    result = pytester.runpytest_subprocess(f"--zdm-cassandra-classpath={empty}", "--junitxml=junit.xml")
    result.assert_outcomes(errors=1)
    runs = list((pytester.path / "reports" / "runs").iterdir())
    assert runs and (runs[0] / "request.json").exists(), "the supervisor was started"
    wait_until(lambda: not (runs[0] / "control.key").exists(), timeout=30, what="the control key removed")
    secrets = [*SECRETS.values(), PROXY_SECRET]
    assert _files_holding(pytester.path, secrets) == []
    assert not any(s in result.stdout.str() + result.stderr.str() for s in secrets)


def test_the_supervisor_gets_every_secret_through_the_pipe(tmp_path: Path) -> None:
    environ = {**SECRETS, "PYTEST_ZDM_PROXY_ENV": PROXY_ENV}
    settings = resolve(cli={}, ini={}, environ=environ, rootdir=tmp_path)
    assert settings.zdm_proxy_env["ZDM_ORIGIN_PASSWORD"] == PROXY_SECRET
    request, handover = supervisor_request(settings, plan={"ports": [1]}, owner_pid=None)
    on_disk = json.dumps(request)
    assert not any(s in on_disk for s in [*SECRETS.values(), PROXY_SECRET]), on_disk
    assert request["settings"]["zdm_proxy_env"] == {"ZDM_LOG_LEVEL": "DEBUG"}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "request.json").write_text(on_disk)
    received, plan = read_request(run_dir, io.BytesIO(handover))
    assert received == settings and plan == {"ports": [1]}
    assert received.zdm_target_password == SECRETS["PYTEST_ZDM_TARGET_PASSWORD"]


def test_settings_json_for_files_has_no_secret() -> None:
    environ = {**SECRETS, "PYTEST_ZDM_PROXY_ENV": PROXY_ENV}
    settings = resolve(cli={}, ini={}, environ=environ, rootdir=Path("/p"))
    public = settings.to_json()
    assert "zdm_origin_password" not in public and "zdm_target_password" not in public
    assert public["zdm_proxy_env"] == {"ZDM_LOG_LEVEL": "DEBUG"}
    back = Settings.from_json(public)
    assert back.zdm_origin_password == "" and "ZDM_ORIGIN_PASSWORD" not in back.zdm_proxy_env
    assert back.with_secrets(settings.secrets()) == settings


def test_the_proxy_settings_recorded_for_reports_mask_every_secret_name() -> None:
    """``env.json`` records the proxy's settings; extras with secret names are masked like the passwords."""
    from pytest_zdm.lab.proxy import ProxyConfig

    cfg = ProxyConfig(
        "127.0.0.1", 1, "127.0.0.1", 2, "127.0.0.1", 3, 4, ("u", "origin-secret"), ("u", "target-secret"),
        extra={"ZDM_ORIGIN_PASWORD": "typo-secret", "ZDM_ASTRA_TOKEN": "token-secret", "ZDM_LOG_LEVEL": "I"},
    )  # fmt: skip
    shown = json.dumps(cfg.public_environment())
    assert not any(s in shown for s in ("origin-secret", "target-secret", "typo-secret", "token-secret"))
    assert cfg.public_environment()["ZDM_LOG_LEVEL"] == "I"
