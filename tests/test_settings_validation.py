"""Issue 18, validation: every value a user can give is refused in one line unless it means something.

Numbers must be finite, written with ASCII digits and in range (``nan`` made the performance checks pass
on zero measurements; ``²`` as a port was a traceback); paths are checked for kind and writability before
anything starts; ``--zdm-attach`` refuses settings it would silently ignore.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_zdm.errors import SettingError
from pytest_zdm.settings import OPTIONS_BY_NAME, resolve

ROOT = Path("/project")


def _resolve(cli: dict[str, str]) -> None:
    resolve(cli=cli, ini={}, environ={}, rootdir=ROOT)


NUMERIC = [
    "zdm_startup_timeout",
    "zdm_request_timeout",
    "zdm_kube_forward_timeout",
    "zdm_compare_rate",
    "zdm_perf_rate",
    "zdm_perf_operations",
    "zdm_budget_p99_overhead_ms",
    "zdm_budget_error_rate",
    "zdm_replication_factor",
    "zdm_kube_cql_port",
    "zdm_kube_proxy_port",
    "zdm_kube_proxy_metrics_port",
]


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "1e999", "-1", "٣", "²", "1_0", "0x10", " "])
def test_numeric_settings_refuse_what_is_not_a_finite_ascii_number_in_range(name: str, raw: str) -> None:
    with pytest.raises(SettingError) as err:
        _resolve({name: raw})
    message = str(err.value)
    assert message.startswith(f"{name}: expected ") and "\n" not in message
    assert message.endswith(f"got {raw!r}")


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("zdm_perf_rate", "0"),  # a fixed-rate workload at no rate measures nothing
        ("zdm_perf_operations", "0"),
        ("zdm_perf_operations", "20000000"),
        ("zdm_startup_timeout", "1e9"),
        ("zdm_request_timeout", "0"),
        ("zdm_budget_p99_overhead_ms", "1e12"),
        ("zdm_budget_error_rate", "1.5"),
        ("zdm_replication_factor", "0"),
        ("zdm_replication_factor", "99999999999999999999999"),
        ("zdm_cassandra_heap", "²56M"),
        ("zdm_cassandra_heap", "99999999G"),
        ("zdm_kube_cql_port", "0"),
        ("zdm_kube_cql_port", "000009042"),
    ],
)
def test_values_out_of_range_are_refused(name: str, raw: str) -> None:
    with pytest.raises(SettingError, match=f"^{name}: expected "):
        _resolve({name: raw})


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("zdm_startup_timeout", " 240 ", 240.0),
        ("zdm_request_timeout", "2.5", 2.5),
        ("zdm_budget_p99_overhead_ms", "0", 0.0),
        ("zdm_budget_p99_overhead_ms", "1.5e2", 150.0),
        ("zdm_compare_rate", "0", 0.0),
        ("zdm_perf_rate", "+50", 50.0),
        ("zdm_perf_operations", "2000", 2000),
        ("zdm_kube_cql_port", "9042", 9042),
    ],
)
def test_ordinary_numbers_are_still_taken(name: str, raw: str, value: float) -> None:
    settings = resolve(cli={name: raw}, ini={}, environ={}, rootdir=ROOT)
    assert getattr(settings, name) == value


def test_the_latency_budget_is_in_milliseconds_not_rows_per_second() -> None:
    with pytest.raises(SettingError) as err:
        _resolve({"zdm_budget_p99_overhead_ms": "fast"})
    assert "milliseconds" in str(err.value) and "rows" not in str(err.value)
    assert "rows per second" not in OPTIONS_BY_NAME["zdm_budget_p99_overhead_ms"].help


@pytest.mark.parametrize(
    "option", ["--zdm-perf-operations=²", "--zdm-cassandra-heap=²56M", "--zdm-perf-rate=nan"]
)
def test_a_bad_number_is_one_line_from_pytest(pytester: pytest.Pytester, option: str) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_subprocess(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = [line for line in result.errlines if line.strip()]
    assert len(err) == 1 and err[0].startswith("ERROR: zdm_"), result.errlines
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("name", ["zdm_run_dir", "zdm_cache_dir"])
def test_a_directory_setting_that_names_a_file_is_one_line_before_the_run(
    pytester: pytest.Pytester, name: str
) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    blocker = pytester.path / "a-file"
    blocker.write_text("not a directory\n")
    result = pytester.runpytest_subprocess(f"--{name.replace('_', '-')}={blocker}", "--zdm-target=local")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = [line for line in result.errlines if line.strip()]
    assert len(err) == 1, result.errlines
    assert err[0].startswith(f"ERROR: {name}: expected a directory") and str(blocker) in err[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("where", ["a directory", "under a file", "on a read-only file system"])
def test_a_gate_file_that_cannot_be_written_is_one_line_before_the_run(
    pytester: pytest.Pytester, where: str
) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    blocker = pytester.path / "a-file"
    blocker.write_text("x\n")
    path = {
        "a directory": pytester.path,
        "under a file": blocker / "gate.json",
        "on a read-only file system": Path("/proc/gate.json"),
    }[where]
    result = pytester.runpytest_subprocess(f"--zdm-gate-file={path}", "--zdm-gate=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    err = [line for line in result.errlines if line.strip()]
    assert len(err) == 1 and err[0].startswith("ERROR: zdm_gate_file: expected "), result.errlines
    assert not list(Path("/").glob("*.tmp-*")) and not list(pytester.path.parent.glob("*.tmp-*"))


def test_attach_refuses_a_target_it_would_ignore(pytester: pytest.Pytester) -> None:
    """``--zdm-attach`` takes the environment as it runs: another target named with it is a usage error."""
    run_dir = pytester.path / "kept"
    run_dir.mkdir()
    (run_dir / "env.json").write_text(json.dumps({"target": "local"}))
    (run_dir / "request.json").write_text(json.dumps({"settings": {"zdm_target": "local"}}))
    pytester.makepyfile(test_x="def test_x(): pass")
    for option in ("--zdm-target=static", f"--zdm-static-config={pytester.path / 'zdm.toml'}"):
        result = pytester.runpytest_subprocess(f"--zdm-attach={run_dir}", option)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
        err = [line for line in result.errlines if line.strip()]
        assert len(err) == 1 and err[0].startswith("ERROR: zdm_attach: "), result.errlines
