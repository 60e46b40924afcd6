"""Guards that keep the framework inside its own keyspaces, and the processes it owns."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pytest_zdm.cql import files as cqlfiles
from pytest_zdm.cql import keyspaces
from pytest_zdm.errors import ZdmError
from pytest_zdm.runtime import leftovers
from pytest_zdm.runtime.logs import LogWatcher


@pytest.mark.parametrize(
    "name", ["app_data", "system", "system_auth", "zdm_verify_x; DROP KEYSPACE app", "ZDM_VERIFY_A"]
)
def test_refuses_to_touch_other_keyspaces(name):
    class Recorder:
        statements: list[str] = []

        def execute(self, statement):
            self.statements.append(statement)

    session = Recorder()
    with pytest.raises(ZdmError, match="is not a pytest-zdm keyspace"):
        keyspaces.drop(session, name)
    with pytest.raises(ZdmError, match="is not a pytest-zdm keyspace"):
        keyspaces.create(session, name)
    assert session.statements == [], "nothing may be sent for a foreign keyspace"


def test_suites_name_tables_only_through_the_keyspace_helpers():
    """In a team's keyspace only ``zdm_verify_<run>_*`` tables are the framework's: a suite that spells
    ``{ks}.name`` itself writes into the team's namespace (seen: ``team_ks.embeddings`` left behind, and an
    INSERT into the team's own table had it existed). ``ks.qualified(name)`` / ``ks.table(name)`` only."""
    suites = Path(__file__).resolve().parents[1] / "suites"
    spelled = re.compile(r"\{(ks|keyspace|zdm_keyspace)\}\.(?!\{)")
    found = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(suites.glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line)
    ]
    assert not found, found


def test_run_keyspace_names_are_valid_unique_and_ours():
    a = keyspaces.run_keyspace_name("20261129-021627-5b20d3", "gw0")
    b = keyspaces.run_keyspace_name("20261129-021627-5b20d3", "gw1")
    assert a != b and a.startswith(keyspaces.PREFIX) and len(a) <= 48
    assert keyspaces.own(a) == a


def test_cql_files_are_applied_to_our_keyspace_only(tmp_path):
    cql = tmp_path / "s.cql"
    cql.write_text(
        "-- comment\n"
        "CREATE TABLE {keyspace}.t (k int PRIMARY KEY);\n"
        "CREATE TABLE {keyspace}.u (k int PRIMARY KEY);\n"
    )
    assert cqlfiles.statements(cql, "zdm_verify_a_main") == [
        "CREATE TABLE zdm_verify_a_main.t (k int PRIMARY KEY)",
        "CREATE TABLE zdm_verify_a_main.u (k int PRIMARY KEY)",
    ]
    with pytest.raises(ZdmError):
        cqlfiles.statements(cql, "production")


def _marked_sleeper(run_dir: str) -> psutil.Process:
    """A detached process carrying ``run_dir``'s marker (not our child, like a real leftover)."""
    env = {**os.environ, leftovers.RUN_MARKER: run_dir}
    out = subprocess.check_output(
        ["sh", "-c", f"{sys.executable} -c 'import time; time.sleep(120)' >/dev/null 2>&1 & echo $!"],
        env=env,
        text=True,
    )
    proc = psutil.Process(int(out))
    deadline = time.monotonic() + 10
    while proc.environ().get(leftovers.RUN_MARKER) != run_dir:  # until exec has happened
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return proc


def test_sweep_kills_what_a_dead_supervisor_left_and_spares_the_rest(tmp_path):
    cache = tmp_path / "cache"
    dead_run, live_run = str(tmp_path / "dead-run"), str(tmp_path / "live-run")
    orphan = _marked_sleeper(dead_run)
    bystander = _marked_sleeper(live_run)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        leftovers.register(cache, leftovers.LiveEntry(dead_run, gone.pid, time.time() - 5, None, False))
        me = leftovers.current_process_started()
        leftovers.register(cache, leftovers.LiveEntry(live_run, os.getpid(), me, None, False))
        cleaned = leftovers.sweep(cache)
        assert len(cleaned) == 1 and dead_run in cleaned[0]
        _, alive = psutil.wait_procs([orphan], timeout=10)
        assert alive == [], "the dead supervisor's leftover should be killed"
        assert bystander.is_running(), "a process of a live supervisor's run must not be touched"
        assert [e.run_dir for _, e in leftovers.entries(cache)] == [live_run]
    finally:
        for proc in (orphan, bystander):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


def test_log_watcher_finds_lines_after_a_mark(tmp_path):
    log = tmp_path / "system.log"
    log.write_text("INFO Startup complete\n")
    watcher = LogWatcher(log)
    mark = watcher.mark()
    assert watcher.search("Startup complete") and watcher.search("Startup complete", mark) is None
    with log.open("a") as fh:
        fh.write("INFO Startup complete (again)\n")
    assert watcher.wait_for(r"Startup complete \(again\)", timeout=1, since=mark)
    with pytest.raises(TimeoutError, match="not reached within"):
        watcher.wait_for("never", timeout=0.3)
    assert watcher.tail(1) == "INFO Startup complete (again)"


def test_wait_until_returns_the_first_truthy_result_or_names_the_last_error():
    from pytest_zdm.assertions import wait_until

    calls = iter([ConnectionError("refused"), None, 0, "ready"])

    def check():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_until(check, timeout=5, what="ready", interval=0.01) == "ready"

    def failing():
        raise ConnectionError("still refused")

    with pytest.raises(AssertionError, match=r"proxy up not reached within 0s \(last error: ConnectionError"):
        wait_until(failing, timeout=0.2, what="proxy up", interval=0.05)
