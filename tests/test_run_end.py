"""Issue 18, how a run ends: an interrupted run says so, a verdict that cannot be written is one line.

After Ctrl-C the summary said "all 8 checks ran and passed"; a gate file that could not be written was a
traceback at the very end, the verdict lost and a stray ``<name>.tmp-<pid>`` left beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_zdm.errors import ZdmError
from pytest_zdm.gate.verdict import write_gate_file

CHECKS = """
import os
import signal
from pathlib import Path

import pytest

pytestmark = pytest.mark.zdm_required_for(1)
WHEN = os.environ["INTERRUPT_WHEN"]


@pytest.fixture(scope="session")
def environment_like():
    yield
    if WHEN == "teardown":  # as a Ctrl-C while the run's keyspaces are dropped at the end
        os.kill(os.getpid(), signal.SIGINT)


def test_first(environment_like):
    pass


def test_second(environment_like):
    if WHEN == "call":
        os.kill(os.getpid(), signal.SIGINT)


def test_third(environment_like):
    if WHEN == "gate-file":  # the gate file's directory turns into a file while the run goes on
        target = Path(os.environ["GATE_DIR"])
        for child in target.iterdir():
            child.unlink()
        target.rmdir()
        target.write_text("in the way")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nzdm_builtin_suites = false\n")
    pytester.makepyfile(test_checks=CHECKS)
    return pytester


@pytest.mark.parametrize("when", ["call", "teardown"])
def test_an_interrupted_run_says_so_and_never_passes_the_gate(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    monkeypatch.setenv("INTERRUPT_WHEN", when)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--zdm-gate=1")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, out
    assert "ran and passed" not in out, out
    assert "the run was interrupted" in out
    gate = json.loads((project.path / "reports" / "gate.json").read_text())
    assert gate["verdict"] == "INCOMPLETE", gate
    assert any("interrupted" in reason for reason in gate["reasons"]), gate["reasons"]


def test_a_gate_file_that_cannot_be_written_at_the_end_is_one_line_and_no_stray_file(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate_dir = project.path / "verdicts"
    monkeypatch.setenv("INTERRUPT_WHEN", "gate-file")
    monkeypatch.setenv("GATE_DIR", str(gate_dir))
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--zdm-gate=1", f"--zdm-gate-file={gate_dir / 'gate.json'}"
    )
    out = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in out and "INTERNALERROR" not in out, out
    assert "gate PASS: entering phase 1" in out, "the verdict is still shown"
    assert f"verdict NOT written: zdm_gate_file: could not write {gate_dir / 'gate.json'}" in out
    assert result.ret == pytest.ExitCode.TESTS_FAILED, "a verdict nobody can read is not a pass"
    assert sorted(p.name for p in project.path.iterdir() if "tmp" in p.name) == []


@pytest.mark.parametrize("kind", ["directory", "under a file"])
def test_write_gate_file_leaves_nothing_behind_when_it_fails(tmp_path: Path, kind: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    path = tmp_path if kind == "directory" else blocker / "gate.json"
    with pytest.raises(ZdmError, match=r"^zdm_gate_file: could not write "):
        write_gate_file(path, {"verdict": "PASS"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]
    assert not list(tmp_path.parent.glob(f"{tmp_path.name}.tmp-*"))


def test_write_gate_file_replaces_the_old_verdict_whole(tmp_path: Path) -> None:
    path = tmp_path / "gate.json"
    path.write_text('{"verdict": "FAIL"}')
    write_gate_file(path, {"verdict": "PASS"})
    assert json.loads(path.read_text()) == {"verdict": "PASS"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gate.json"]
