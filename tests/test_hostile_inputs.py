"""Issue 18, bounded work: every hostile input answers in seconds, in little memory, with one line.

Found by trying the framework as a hostile or careless user would: a 458-byte manifest whose YAML aliases
expand to gigabytes (4.3 GB RSS and a 624 MB output line), a 45 MB YAML (11 minutes), a 50 MB env file
(1.5 million output lines), a 2 MB zip-bomb secure connect bundle (74 s and 4.3 GB), ``!!python`` tags and
deep nesting (tracebacks), a garbage kubeconfig (a traceback not naming the setting).

Each input runs in a child process under limits (address space, CPU seconds, wall time); the child's own
peak RSS comes from ``wait4``. What is asserted: a clean exit with a usage or work error (2 or 1), one
line on stderr naming the file or setting, nothing on stdout beyond a few lines, and bounded time and
memory.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ADDRESS_SPACE = 1 << 30  # the child dies with MemoryError past 1 GiB instead of taking the machine
MAX_RSS_MB = 200
MAX_SECONDS = 30.0


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CPU, (int(MAX_SECONDS) * 2, int(MAX_SECONDS) * 2))


def _bounded(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> Outcome:
    """Run ``python -m pytest_zdm.cli ARGS`` under limits; its own peak RSS from wait4."""
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    began = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_zdm.cli", *args],
            stdout=stdout, stderr=stderr, cwd=tmp_path, env={**os.environ, **(env or {})},
            preexec_fn=_limits,
        )  # fmt: skip
        deadline = began + MAX_SECONDS * 3
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Outcome(
        proc.returncode,
        out.read_text(errors="replace"),
        err.read_text(errors="replace"),
        time.monotonic() - began,
        usage.ru_maxrss / 1024,
    )


def _assert_one_line(outcome: Outcome, *, codes: tuple[int, ...] = (1, 2), mentions: str = "") -> None:
    where = f"exit {outcome.code} after {outcome.seconds:.1f}s, {outcome.max_rss_mb:.0f} MB"
    assert outcome.code in codes, f"{where}; stderr: {outcome.stderr[-600:]}"
    assert "Traceback" not in outcome.stderr, outcome.stderr[-1500:]
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"{where}; expected one line, got {len(lines)}: {lines[:3]}"
    assert len(lines[0]) < 1000 and len(outcome.stdout) < 20_000, where
    assert mentions in lines[0], lines[0]
    assert outcome.seconds < MAX_SECONDS, where
    assert outcome.max_rss_mb < MAX_RSS_MB, where


def _alias_bomb(levels: int) -> str:
    """The classic 'billion laughs' as a ConfigMap value: 9 ** levels strings from ~50 bytes per level."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: zdm-proxy}", "data:"]
    lines.append('  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    for n in range(1, levels):
        lines.append(f"  a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    lines.append(f"  ZDM_PRIMARY_CLUSTER: *a{levels - 1}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [9, 10])
def test_a_yaml_alias_bomb_in_a_manifest(tmp_path: Path, levels: int) -> None:
    manifest = tmp_path / "zdm-proxy.yaml"
    manifest.write_text(_alias_bomb(levels))
    assert manifest.stat().st_size < 600
    _assert_one_line(_bounded(["lint-config", str(manifest)], tmp_path), mentions=str(manifest))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("python-tag.yaml", "origin_contact_points: !!python/object/apply:os.system ['true']\n"),
        ("deep.yaml", "origin_contact_points: " + "[" * 300 + "]" * 300 + "\n"),
        ("deeper.yaml", "origin_contact_points: " + "[" * 20_000 + "]" * 20_000 + "\n"),
        ("cycle.yaml", "origin_contact_points: &a [*a]\n"),
        (
            "k8s-python-tag.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n"
            "  ZDM_READ_MODE: !!python/name:os.system\n",
        ),
    ],
)
def test_yaml_tags_and_nesting_no_configuration_needs(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    _assert_one_line(_bounded(["lint-config", str(path)], tmp_path), mentions=str(path))


def _big_file(path: Path, megabytes: int, line: str) -> Path:
    with path.open("w") as fh:
        block = line * ((1 << 20) // len(line) + 1)
        for _ in range(megabytes):
            fh.write(block[: 1 << 20])
    return path


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("big.yaml", "- {origin_contact_points: a, target_contact_points: b}\n"),
        ("big.env", "ZDM_ORIGIN_PORT=9042\n"),
    ],
)
def test_a_45_mb_file_given_as_a_configuration(tmp_path: Path, name: str, line: str) -> None:
    path = _big_file(tmp_path / name, 45, line)
    _assert_one_line(_bounded(["lint-config", str(path)], tmp_path), mentions=str(path))


def test_a_large_proxy_log_is_read_for_its_last_configuration_line(tmp_path: Path) -> None:
    """A proxy log may be large and is a legitimate input: its last 'Parsed configuration' is linted."""
    log = _big_file(tmp_path / "proxy.log", 45, 'time="t" level=info msg="Proxy connected"\n')
    with log.open("a") as fh:
        fh.write('time="t" level=info msg="Parsed configuration: {\\"PrimaryCluster\\":\\"ORIGIN\\",'
                 '\\"ReadMode\\":\\"PRIMARY_ONLY\\",\\"OriginContactPoints\\":\\"a\\"}"\n')  # fmt: skip
    outcome = _bounded(["lint-config", str(log)], tmp_path)
    assert outcome.code in (0, 1) and "Traceback" not in outcome.stderr, outcome.stderr[-800:]
    assert outcome.seconds < MAX_SECONDS and outcome.max_rss_mb < MAX_RSS_MB, outcome
    assert outcome.stdout.startswith(f"{log}: "), outcome.stdout[:300]


def test_an_env_file_of_many_findings_prints_a_bounded_summary(tmp_path: Path) -> None:
    """Under the size limit but full of repeats: one line per kind of finding, the rest counted."""
    path = tmp_path / "repeated.env"
    path.write_text("".join(f"ZDM_ORIGIN_PORT={n}\n" for n in range(40_000)))
    outcome = _bounded(["lint-config", str(path)], tmp_path)
    assert outcome.code in (0, 1) and "Traceback" not in outcome.stderr, outcome.stderr[-800:]
    lines = outcome.stdout.splitlines()
    assert len(lines) <= 60, f"{len(lines)} lines"
    assert any("more like it" in line for line in lines), lines[:5]
    assert outcome.seconds < MAX_SECONDS and outcome.max_rss_mb < MAX_RSS_MB, outcome


def _zip_bomb(path: Path) -> Path:
    """A bundle whose ``key`` unpacks to 2 GiB of zeros (a ~2 MB file), beside the usual members."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        bundle.writestr("config.json", '{"host": "127.0.0.1", "port": 29080}')
        bundle.writestr("ca.crt", "-----BEGIN CERTIFICATE-----\n")
        bundle.writestr("cert", "-----BEGIN CERTIFICATE-----\n")
        with bundle.open("key", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(2048):
                member.write(zeros)
    return path


def _static_config(tmp_path: Path, bundle: Path) -> Path:
    config = tmp_path / "zdm.toml"
    config.write_text(
        f'[origin]\nsecure_connect_bundle = "{bundle}"\ntoken_env = "ZDM_T"\n'
        f'[target]\nsecure_connect_bundle = "{bundle}"\ntoken_env = "ZDM_T"\n'
        '[proxy]\ncontact_points = ["127.0.0.1:1"]\nmetrics_url = "http://127.0.0.1:1"\n'
    )
    return config


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _zip_bomb(tmp_path_factory.mktemp("bomb") / "secure-connect-bomb.zip")


def test_a_zip_bomb_secure_connect_bundle(tmp_path: Path, zip_bomb: Path) -> None:
    assert zip_bomb.stat().st_size < 4 << 20
    config = _static_config(tmp_path, zip_bomb)
    outcome = _bounded(
        ["up", "--zdm-target=static", f"--zdm-static-config={config}"], tmp_path, env={"ZDM_T": "AstraCS:x"}
    )
    _assert_one_line(outcome, codes=(2,), mentions="secure_connect_bundle")


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01garbage\xff" * 100,
        b"- just\n- a list\n",
        b"apiVersion: v1\nclusters: 3\ncontexts: {a: b}\n",
        _alias_bomb(9).encode(),
    ],
)
def test_a_garbage_kubeconfig_names_the_setting(tmp_path: Path, content: bytes) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(content)
    outcome = _bounded(["up", "--zdm-target=kube", f"--zdm-kubeconfig={kubeconfig}"], tmp_path)
    _assert_one_line(outcome, codes=(2,), mentions="zdm_kubeconfig")


def test_a_45_mb_zdm_toml_and_a_huge_password_file(tmp_path: Path) -> None:
    toml = _big_file(tmp_path / "zdm.toml", 45, "# comment\n")
    outcome = _bounded(["up", "--zdm-target=static", f"--zdm-static-config={toml}"], tmp_path)
    _assert_one_line(outcome, codes=(2,), mentions="zdm.toml")
    secret = tmp_path / "password"
    with secret.open("wb") as fh:
        for _ in range(50):
            fh.write(b"x" * (1 << 20))
    # ``down`` resolves every setting and starts nothing (without a run directory it only complains)
    outcome = _bounded(["down"], tmp_path, env={"PYTEST_ZDM_ORIGIN_PASSWORD_FILE": str(secret)})
    _assert_one_line(outcome, codes=(2,), mentions="zdm_origin_password_file")


def test_a_huge_rehearsal_file(pytester: pytest.Pytester) -> None:
    rehearsal = _big_file(pytester.path / "gate.json", 45, '{"checks": []}\n')
    pytester.makepyfile(test_x="def test_x(): pass")
    began = time.monotonic()
    result = pytester.runpytest_subprocess(f"--zdm-rehearsal={rehearsal}", "--zdm-gate=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = [line for line in result.errlines if line.strip()]
    assert len(err) == 1 and err[0].startswith("ERROR: zdm_rehearsal: "), err[:3]
    assert time.monotonic() - began < MAX_SECONDS * 2


def test_the_bounded_reader_reads_an_ordinary_bundle(tmp_path: Path) -> None:
    """The limits refuse bombs, not bundles: a small well-formed zip passes the size checks."""
    from pytest_zdm.targets.static.bundle import MAX_MEMBER_BYTES

    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as bundle:
        bundle.writestr("key", b"k" * 1000)
    with zipfile.ZipFile(data) as bundle:
        assert bundle.getinfo("key").file_size < MAX_MEMBER_BYTES
