"""Origin and target on different Cassandra releases: the built-in suites and the phase-1 gate hold.

A real ``local`` environment is started with the pair named by ``PYTEST_ZDM_PAIR`` (``ORIGIN:TARGET``
lines or releases; default ``4.1:5.0``, the pair CI runs: a 4.1 origin is where most migrations to 5.0
start, and it is zdm-proxy's own docker-compose pair). Every built-in suite runs against it in a separate
pytest process (``--zdm-attach``) gating entry into phase 1: the verdict must be PASS, ``gate.json`` must
record both releases and the Java each runs on, and a check that needs what only one side has (vector
columns, 5.0) must be listed as not applicable rather than skipped silently or passed. Then seeded faults
must still fail on the mixed pair: the proxy's target pointed at origin, and a row written to one cluster.
The other pairs run in the scheduled job of ``examples/ci/version-pairs.yml``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_zdm.settings import OPTIONS_BY_NAME, Settings

from .helpers import junit_outcomes, local_environment

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("proxy_available")]
ROOT = Path(__file__).resolve().parent.parent
PAIR = os.environ.get("PYTEST_ZDM_PAIR", "4.1:5.0")


def _pair_settings(settings: Settings) -> Settings:
    origin, _, target = PAIR.partition(":")
    data = settings.to_json()
    for cluster, raw in (("origin", origin), ("target", target or origin)):
        name = f"zdm_{cluster}_cassandra_version"
        data[name] = OPTIONS_BY_NAME[name].parse(f"PYTEST_ZDM_PAIR ({cluster})", raw)
    return Settings.from_json(data)


@pytest.fixture(scope="module")
def pair_env(zdm_settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    settings = _pair_settings(zdm_settings)
    with local_environment(settings, tmp_path_factory.mktemp("pair-env") / "env") as env:
        yield env


def _suites(env, project: Path, *args: str) -> tuple[int, str, dict[str, tuple[str, str]]]:
    junit = project / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "suites"), f"--zdm-attach={env.run_dir}",
         f"--zdm-gate-file={project / 'gate.json'}", f"--zdm-gate-suites={ROOT / 'suites'}",
         f"--junitxml={junit}", "-p", "no:cacheprovider", "-q", "-rs", *args],
        capture_output=True, text=True, timeout=1200, cwd=ROOT, check=False,
    )  # fmt: skip
    (project / "output.txt").write_text(proc.stdout + proc.stderr)
    return proc.returncode, proc.stdout, junit_outcomes(junit)


def test_every_suite_passes_the_phase_1_gate_on_the_pair(pair_env, tmp_path):
    settings = _pair_settings(pair_env.settings)
    code, out, outcomes = _suites(pair_env, tmp_path, "--zdm-gate=1", "--zdm-phase=1")
    gate = json.loads((tmp_path / "gate.json").read_text())
    assert (code, gate["verdict"]) == (0, "PASS"), out[-4000:]
    assert gate["origin_cassandra"] == settings.cassandra_version("origin")
    assert gate["target_cassandra"] == settings.cassandra_version("target")
    assert gate["origin_java"] and gate["target_java"]
    if settings.cassandra_version("origin").startswith("4."):
        assert gate["origin_java"].startswith("11."), gate["origin_java"]
    failed = {k: v for k, v in outcomes.items() if v[0] in ("FAILED", "ERROR")}
    assert not failed, failed
    vector = outcomes["test_vector_column"]
    both_five = all(settings.cassandra_version(c).startswith("5.") for c in ("origin", "target"))
    if both_five:
        assert vector[0] == "PASSED", vector
    else:
        assert vector[0] == "SKIPPED" and "not applicable: needs Cassandra 5.0 on both clusters" in vector[1]
        listed = [c["nodeid"] for c in gate["not_applicable"]]
        assert any(n.endswith("test_vector_column") for n in listed), gate["not_applicable"]
        assert "NOT APPLICABLE" in out


def test_seeded_faults_still_fail_on_the_pair(pair_env, tmp_path):
    """The proxy's target pointed at origin, and a row on origin only: the checks that catch them fail."""
    pair_env.reconfigure_proxy({"ZDM_TARGET_PORT": str(pair_env.info.origin.port)})
    try:
        code, out, outcomes = _suites(
            pair_env, tmp_path, "--zdm-gate=1", "--zdm-phase=1", "-m", "not zdm_destructive"
        )
    finally:
        pair_env.reconfigure_proxy({})
    gate = json.loads((tmp_path / "gate.json").read_text())
    assert code != 0 and gate["verdict"] == "FAIL", out[-3000:]
    wired = outcomes["test_proxy_is_wired_to_the_right_clusters"]
    assert wired[0] == "FAILED" and "proxy's target is 'zdm-origin', expected 'zdm-target'" in wired[1], wired
    # The schema the check needs never reaches the target: it fails at setup, naming the cluster.
    inserted = outcomes["test_insert_simple_statement"]
    assert inserted[0] in ("FAILED", "ERROR") and "missing on: target" in inserted[1], inserted
    assert "missing on: target" in outcomes["test_workload_data_is_identical_on_both_clusters"][1]

    proxy, origin = pair_env.connect("proxy"), pair_env.connect("origin")
    try:
        proxy.session.execute(
            "CREATE KEYSPACE IF NOT EXISTS zdm_verify_pair_fault "
            "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        proxy.session.execute(
            "CREATE TABLE IF NOT EXISTS zdm_verify_pair_fault.t (id int PRIMARY KEY, v text)"
        )
        for i in range(10):
            proxy.session.execute("INSERT INTO zdm_verify_pair_fault.t (id, v) VALUES (%s, 'both')", (i,))
        origin.session.execute("INSERT INTO zdm_verify_pair_fault.t (id, v) VALUES (99, 'origin only')")
        code, out, outcomes = _suites(
            pair_env, tmp_path, "-k", "test_consistency", "--zdm-compare-tables=zdm_verify_pair_fault.t"
        )
    finally:
        proxy.session.execute("DROP KEYSPACE IF EXISTS zdm_verify_pair_fault")
        proxy.close()
        origin.close()
    compared = outcomes["test_user_tables_are_identical_on_both_clusters"]
    assert code != 0 and compared[0] == "FAILED" and "1 missing on target" in compared[1], compared
