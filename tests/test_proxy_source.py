"""zdm-proxy built from a source the user names (``zdm_proxy_source``): real ``go build``, no mock of go.

``go install`` of the pinned commit is made to fail the same way on every machine (the module is private
to the go command and direct fetching is off), as the Go module proxy's 403 makes it fail on the project's
build machines; provisioning must then fall back to the source. The archive is the one CI points
``PYTEST_ZDM_PROXY_SOURCE`` at (the pinned commit, made by ``git archive``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pytest_zdm.errors import ProvisionError, SettingError
from pytest_zdm.provision import provision_proxy
from pytest_zdm.settings import Settings, resolve

SHA_ZERO = "0" * 64


@pytest.fixture(scope="module")
def archive(zdm_settings: Settings) -> Path:
    source = zdm_settings.zdm_proxy_source
    if source is None or not source.is_file():
        pytest.skip("needs a zdm-proxy source archive: set PYTEST_ZDM_PROXY_SOURCE (.ci/run does)")
    return source


@pytest.fixture(autouse=True)
def _go_install_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``go install github.com/datastax/zdm-proxy/...`` fail at once, as the 403 does here."""
    monkeypatch.setenv("GOPRIVATE", "github.com/datastax/zdm-proxy")
    monkeypatch.setenv("GOVCS", "private:off")


def _settings(tmp_path: Path, **cli: str) -> Settings:
    return resolve(
        cli={"zdm_cache_dir": str(tmp_path / "cache"), **cli}, ini={}, environ={}, rootdir=tmp_path
    )


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00",
    }  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def _checkout_of(archive: Path, into: Path) -> tuple[Path, str]:
    """The archive unpacked and committed as a git checkout; returns it and its commit."""
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    tree = next(into.iterdir())
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", "zdm-proxy source")
    return tree, _git(tree, "rev-parse", "HEAD")


def _cache_entries(settings: Settings) -> list[str]:
    """What the proxy part of the cache holds, lock files aside."""
    root = settings.zdm_cache_dir / "zdm-proxy"
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) if root.is_dir() else []


def _assert_warm_path_is_stat_only(settings: Settings, monkeypatch: pytest.MonkeyPatch, binary: Path) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the warm path started a process: {args}")

    with monkeypatch.context() as m:
        m.setattr(subprocess, "Popen", no_process)
        said: list[str] = []
        again = provision_proxy(settings, said.append)
    assert again.binary == binary and said == []


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_zdm.cli", "provision", *args],
        capture_output=True, text=True, timeout=600, env={**os.environ, **env}, check=False,
    )  # fmt: skip


def test_a_source_archive_is_built_verified_and_cached(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    settings = _settings(tmp_path, zdm_proxy_source=str(archive), zdm_proxy_source_sha256=sha)
    said: list[str] = []
    artifact = provision_proxy(settings, said.append)
    assert artifact.version.startswith("2.") and artifact.commit == settings.zdm_proxy_commit
    assert f"go build of {archive}" in artifact.source
    assert any("go install" in line and "trying zdm_proxy_source" in line for line in said), said
    out = subprocess.run([str(artifact.binary), "--version"], capture_output=True, text=True, check=True)
    assert "ZDM proxy version" in out.stdout + out.stderr
    entry = settings.zdm_cache_dir / "zdm-proxy" / settings.zdm_proxy_commit
    assert (entry / "src").is_dir() and _cache_entries(settings) == [settings.zdm_proxy_commit]
    _assert_warm_path_is_stat_only(settings, monkeypatch, artifact.binary)


def test_a_checkout_is_built_where_it_is_and_must_be_clean_and_the_pinned_commit(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree, commit = _checkout_of(archive, tmp_path / "checkout")
    settings = _settings(tmp_path, zdm_proxy_source=str(tree), zdm_proxy_commit=commit[:12])
    artifact = provision_proxy(settings, lambda _: None)
    assert artifact.commit == commit[:12] and f"go build of {tree}" in artifact.source
    assert _git(tree, "status", "--porcelain") == "", "go build wrote into the user's checkout"
    _assert_warm_path_is_stat_only(settings, monkeypatch, artifact.binary)

    other = _settings(tmp_path / "other", zdm_proxy_source=str(tree))  # pinned commit != the checkout's
    with pytest.raises(ProvisionError) as wrong:
        provision_proxy(other, lambda _: None)
    assert f"holds zdm-proxy commit {commit[:12]}, expected zdm_proxy_commit {other.zdm_proxy_commit}" in str(
        wrong.value
    )
    (tree / "proxy" / "main.go").write_text("package main\n")
    dirty = _settings(tmp_path / "dirty", zdm_proxy_source=str(tree), zdm_proxy_commit=commit[:12])
    with pytest.raises(ProvisionError, match="the checkout has uncommitted changes"):
        provision_proxy(dirty, lambda _: None)
    assert _cache_entries(other) == [] and _cache_entries(dirty) == []


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("zdm-verify: error: zdm-proxy ") and "no way to obtain it worked" in last
    return last


@pytest.fixture
def cli_env(zdm_settings: Settings, tmp_path: Path) -> dict[str, str]:
    """A fresh cache for the proxy; Cassandra's jars taken from the shared cache (nothing fetched)."""
    from pytest_zdm.provision import provision_cassandra

    jars = provision_cassandra(zdm_settings, lambda _: None).jars[0].parent
    return {
        "PYTEST_ZDM_CACHE_DIR": str(tmp_path / "cache"),
        "PYTEST_ZDM_CASSANDRA_CLASSPATH": str(jars),
        "PYTEST_ZDM_PROXY_BINARY": "",
        "PYTEST_ZDM_PROXY_SOURCE_SHA256": "",
    }


def test_a_wrong_sha256_is_one_line_and_leaves_nothing(
    archive: Path, tmp_path: Path, cli_env: dict[str, str]
):
    env = {**cli_env, "PYTEST_ZDM_PROXY_SOURCE": str(archive), "PYTEST_ZDM_PROXY_SOURCE_SHA256": SHA_ZERO}
    last = _one_line_failure(_cli(env=env))
    assert (
        f"zdm_proxy_source {archive}: sha256 is " in last
        and f"expected {SHA_ZERO} (zdm_proxy_source_sha256)" in last
    )
    assert "go install: " in last and "zdm_proxy_binary: not set" in last
    assert _cache_entries(_settings(tmp_path)) == []


def test_a_corrupt_archive_is_one_line_and_leaves_nothing(
    archive: Path, tmp_path: Path, cli_env: dict[str, str]
):
    broken = tmp_path / "zdm-proxy-broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    last = _one_line_failure(_cli(env={**cli_env, "PYTEST_ZDM_PROXY_SOURCE": str(broken)}))
    assert f"zdm_proxy_source {broken}: not a readable .tar.gz" in last
    assert _cache_entries(_settings(tmp_path)) == []


def test_an_archive_that_is_not_zdm_proxy_is_one_line_and_leaves_nothing(
    tmp_path: Path, cli_env: dict[str, str]
):
    repo = tmp_path / "hello"
    (repo / "proxy").mkdir(parents=True)
    (repo / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (repo / "proxy" / "main.go").write_text(
        'package main\n\nfunc main() { println("ZDM proxy version 9") }\n'
    )
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "not zdm-proxy")
    tgz = tmp_path / "hello.tar.gz"
    _git(repo, "archive", "--format=tar.gz", "--prefix=hello/", "-o", str(tgz), "HEAD")
    last = _one_line_failure(_cli(env={**cli_env, "PYTEST_ZDM_PROXY_SOURCE": str(tgz)}))
    assert (
        f"zdm_proxy_source {tgz}: not a zdm-proxy source (go.mod names module example.com/hello, expected "
        "github.com/datastax/zdm-proxy)" in last
    )
    assert _cache_entries(_settings(tmp_path)) == []


def test_go_missing_is_one_line_naming_every_way(archive: Path, tmp_path: Path, cli_env: dict[str, str]):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = shutil.which("java")
    assert java is not None
    (bin_dir / "java").symlink_to(java)
    env = {**cli_env, "PATH": str(bin_dir), "PYTEST_ZDM_PROXY_SOURCE": str(archive)}
    last = _one_line_failure(_cli(env=env))
    assert "go install: go not found on PATH" in last
    assert f"zdm_proxy_source {archive}: go not found on PATH (a source is built with go build)" in last
    assert _cache_entries(_settings(tmp_path)) == []


def test_source_settings_are_checked_up_front(archive: Path, tmp_path: Path) -> None:
    text = tmp_path / "proxy.zip"
    text.write_text("x")
    with pytest.raises(
        SettingError, match=r"zdm_proxy_source: expected a zdm-proxy checkout directory or a \.tar\.gz"
    ):
        _settings(tmp_path, zdm_proxy_source=str(text))
    with pytest.raises(
        SettingError, match=r"zdm_proxy_source_sha256: expected a sha256 digest \(64 hex digits\)"
    ):
        _settings(tmp_path, zdm_proxy_source=str(archive), zdm_proxy_source_sha256="abc")
    with pytest.raises(SettingError, match=r"zdm_proxy_source_sha256: expected together with a \.tar\.gz"):
        _settings(tmp_path, zdm_proxy_source=str(tmp_path), zdm_proxy_source_sha256=SHA_ZERO)
