"""What each target can verify, how missing capabilities are reported, and rehearsal evidence (no cluster).

The same machinery on real clusters and a real proxy (a static target reached with a limited role, gates
1 and 4, rehearsals accepted and refused) is in ``test_installed.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_zdm.cql import keyspaces
from pytest_zdm.cql.keyspaces import Keyspace
from pytest_zdm.errors import SettingError, ZdmError
from pytest_zdm.gate.rehearsal import Rehearsal
from pytest_zdm.gate.verdict import INCOMPLETE, PASS, REHEARSED, RequiredCheck, decide
from pytest_zdm.lab.proxy import ProxyConfig, behaviour
from pytest_zdm.settings import resolve
from pytest_zdm.targets.static.config import load

ROOT = Path(__file__).resolve().parent.parent


def test_the_capabilities_page_is_the_generated_table(tmp_path: Path) -> None:
    # Not from the checkout's root: `python -m` puts the working directory first on sys.path, and the
    # checkout's pytest_zdm/ (suites/ mapped in only when installed) would shadow an installed package.
    table = subprocess.run(
        [sys.executable, "-m", "pytest_zdm.cli", "capabilities"],
        capture_output=True, text=True, timeout=300, check=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    page = (ROOT / "docs" / "capabilities.md").read_text()
    assert table.strip() in page, (
        "docs/capabilities.md is stale: paste the output of `zdm-verify capabilities`"
    )
    assert "| `static` | PASS with supply `[proxy] config` in zdm.toml, `[proxy] log` in zdm.toml" in table


DESTRUCTIVE = RequiredCheck(
    "test_error_recovery.py::test_proxy_restart_clients_reconnect",
    (4, 5),
    "test_error_recovery",
    needs=("proxy_control",),
    destructive=True,
)
ROUTING = RequiredCheck(
    "test_connection.py::test_proxy_routing_matches_the_phase", (1, 2, 3, 4, 5), "test_connection"
)


def test_a_rehearsed_destructive_check_counts_only_when_a_rehearsal_covers_it() -> None:
    verdicts = {
        ROUTING.nodeid: ("PASSED", ""),
        DESTRUCTIVE.nodeid: ("SKIPPED", "destructive check: target 'static' is not disposable; ..."),
    }
    common = {"deselected": set(), "collected": None, "proxy_phase": 3}
    alone = decide(4, [ROUTING, DESTRUCTIVE], verdicts, **common)
    assert alone.verdict == INCOMPLETE
    refused = decide(
        4, [ROUTING, DESTRUCTIVE], verdicts, rehearsal_note="the rehearsal x is not accepted: y", **common
    )
    assert refused.verdict == INCOMPLETE and "the rehearsal x is not accepted: y" in refused.reasons[0]
    covered = decide(
        4, [ROUTING, DESTRUCTIVE], verdicts, rehearsed={DESTRUCTIVE.key: "passed in r1"}, **common
    )
    assert covered.verdict == PASS
    assert [c.outcome for c in covered.checks] == ["passed", REHEARSED]
    assert "(1 of them in the rehearsal given)" in covered.headline()
    failed_here = dict(verdicts) | {DESTRUCTIVE.nodeid: ("FAILED", "it failed here")}
    assert (
        decide(4, [ROUTING, DESTRUCTIVE], failed_here, rehearsed={DESTRUCTIVE.key: "r"}, **common).verdict
        == "FAIL"
    )
    not_destructive = decide(
        4, [ROUTING], {ROUTING.nodeid: ("SKIPPED", "x")}, rehearsed={ROUTING.key: "r"}, **common
    )
    assert not_destructive.verdict == INCOMPLETE, "a rehearsal covers destructive checks only"


def _gate_json(path: Path, **changes: object) -> Path:
    proxy = ProxyConfig("127.0.0.1", 1, "127.0.0.1", 2, "127.0.0.1", 3, 4, ("u", "p"), ("u", "p"))
    data = {
        "verdict": "PASS",
        "target": "local",
        "run_id": "r1",
        "finished": "2026-11-30T00:00:00Z",
        "zdm_proxy": "2.4.1",
        "zdm_proxy_commit": "02d423db4da1",
        "proxy_behaviour": behaviour(proxy.public_environment()),
        "checks": [{"nodeid": DESTRUCTIVE.nodeid, "suite": DESTRUCTIVE.suite, "outcome": "passed"}],
    } | changes
    path.write_text(json.dumps(data))
    return path


def test_a_rehearsal_stands_for_a_run_only_with_the_same_proxy(tmp_path: Path) -> None:
    rehearsal = Rehearsal.load(_gate_json(tmp_path / "gate.json"))
    assert rehearsal.passed == {DESTRUCTIVE.key}
    here = {"zdm_proxy": "2.4.1", "zdm_proxy_commit": None, "proxy_behaviour": dict(rehearsal.behaviour)}
    assert rehearsal.differences(here) == []
    other_mode = dict(
        here, proxy_behaviour=dict(rehearsal.behaviour, ZDM_READ_MODE="DUAL_ASYNC_ON_SECONDARY")
    )
    (problem,) = rehearsal.differences(other_mode)
    assert problem == (
        "proxy settings differ: ZDM_READ_MODE=PRIMARY_ONLY in the rehearsal, DUAL_ASYNC_ON_SECONDARY here"
    )
    assert rehearsal.differences(dict(here, zdm_proxy="2.4.2")) == [
        "zdm-proxy version 2.4.1 in the rehearsal, 2.4.2 here"
    ]
    on_static = Rehearsal.load(_gate_json(tmp_path / "static.json", target="static"))
    assert "not a disposable target" in on_static.differences(here)[0]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(
        SettingError, match=r"zdm_rehearsal: expected the gate.json of a pytest-zdm rehearsal"
    ):
        Rehearsal.load(tmp_path / "bad.json")


def test_behaviour_ignores_where_and_as_whom_but_not_how() -> None:
    lab = ProxyConfig("127.0.0.1", 1, "127.0.0.1", 2, "127.0.0.1", 3, 4, ("a", "b"), ("c", "d"))
    elsewhere = ProxyConfig(
        "10.0.0.1", 9042, "10.0.0.2", 9042, "0.0.0.0", 14002, 14001, ("x", "y"), ("z", "w")
    )
    assert behaviour(lab.environment()) == behaviour(elsewhere.environment())
    team = {"ZDM_READ_MODE": "DUAL_ASYNC_ON_SECONDARY", "ZDM_ORIGIN_CONTACT_POINTS": "10.9.9.9"}
    rehearsing = ProxyConfig(
        "127.0.0.1", 1, "127.0.0.1", 2, "127.0.0.1", 3, 4, ("a", "b"), ("c", "d"), team=team
    )
    env = rehearsing.environment()
    assert (
        env["ZDM_READ_MODE"] == "DUAL_ASYNC_ON_SECONDARY" and env["ZDM_ORIGIN_CONTACT_POINTS"] == "127.0.0.1"
    )
    assert "ZDM_PROXY_REQUEST_TIMEOUT_MS" not in env, "the team's configuration, not the lab's choices"


def test_the_lab_rehearses_the_phase_being_gated(tmp_path: Path) -> None:
    gate4 = resolve(cli={"zdm_gate": "route-reads"}, ini={}, environ={}, rootdir=tmp_path)
    assert (gate4.zdm_phase, gate4.zdm_primary_cluster, gate4.zdm_read_mode) == (
        3,
        "ORIGIN",
        "DUAL_ASYNC_ON_SECONDARY",
    )
    gate5 = resolve(cli={"zdm_gate": "5"}, ini={}, environ={}, rootdir=tmp_path)
    assert (gate5.zdm_primary_cluster, gate5.zdm_read_mode) == ("TARGET", "PRIMARY_ONLY")
    told = resolve(
        cli={"zdm_gate": "4", "zdm_read_mode": "PRIMARY_ONLY"}, ini={}, environ={}, rootdir=tmp_path
    )
    assert told.zdm_read_mode == "PRIMARY_ONLY" and told.sources["zdm_read_mode"] == "command line"
    assert resolve(cli={}, ini={}, environ={}, rootdir=tmp_path).zdm_read_mode == "PRIMARY_ONLY"


def test_the_framework_writes_only_its_own_tables_in_a_teams_keyspace() -> None:
    keyspaces.allow_team_keyspace("team_ks")
    ks = Keyspace("team_ks", prefix=keyspaces.run_table_prefix("20261130-000000-abcdef", "gw0"))
    assert ks.qualified("orders") == "team_ks.zdm_verify_000000abcdef_gw0_orders" and not ks.owned
    with pytest.raises(ZdmError, match="is not a pytest-zdm table"):
        keyspaces.own_table("team_ks", "customers")
    with pytest.raises(ZdmError, match="drops only keyspaces starting"):
        keyspaces.drop(None, "team_ks")
    with pytest.raises(ZdmError, match="creates only keyspaces starting"):
        keyspaces.create(None, "team_ks")
    with pytest.raises(ZdmError, match="is not a pytest-zdm keyspace"):
        Keyspace("someone_elses")
    own = Keyspace(keyspaces.run_keyspace_name("20261130-000000-abcdef", "gw0"))
    assert own.owned and own.qualified("orders") == f"{own}.orders"
    assert keyspaces.network_topology({"dc2", "dc1"}, 3) == (
        "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}"
    )


def test_zdm_toml_names_the_proxys_configuration_log_and_keyspace(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ZDM_TEST_PW", "pw")
    (tmp_path / "proxy.env").write_text("ZDM_PRIMARY_CLUSTER=ORIGIN\nZDM_READ_MODE=PRIMARY_ONLY\n")
    (tmp_path / "proxy.log").write_text('time="x" level=info msg="Starting ZDM proxy version 2.4.1"\n')
    cluster = (
        'contact_points = ["127.0.0.1:9"]\nlocal_dc = "dc1"\nusername = "u"\npassword_env = "ZDM_TEST_PW"\n'
    )
    proxy = '[proxy]\ncontact_points = ["127.0.0.1:9"]\nmetrics_url = "http://127.0.0.1:9"\n'
    text = f'keyspace = "Team_KS"\n[origin]\n{cluster}[target]\n{cluster}{proxy}'
    text += 'config = "proxy.env"\nlog = "proxy.log"\n'
    (tmp_path / "zdm.toml").write_text(text)
    config = load(tmp_path / "zdm.toml")
    assert (config.proxy_config, config.proxy_log, config.keyspace) == (
        tmp_path / "proxy.env",
        tmp_path / "proxy.log",
        "team_ks",
    )
    (tmp_path / "zdm.toml").write_text(text.replace('"proxy.env"', '"missing.yaml"'))
    with pytest.raises(
        SettingError, match=r"proxy.config: expected the proxy's configuration: its YAML config"
    ):
        load(tmp_path / "zdm.toml")
    (tmp_path / "zdm.toml").write_text("keyspce = 'x'\n" + text)
    with pytest.raises(SettingError, match=r"keyspce: expected no such table or key; one of .*keyspace"):
        load(tmp_path / "zdm.toml")
