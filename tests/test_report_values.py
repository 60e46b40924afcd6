"""Issue 18, data in reports: what a mismatch report may show of a team's data.

``--zdm-compare-tables=system_auth.roles`` was accepted: salts differ per cluster, so every role's
``salted_hash`` went to the terminal, the JUnit XML, Allure and the JSON-lines report, which the CI
examples upload. System keyspaces are now refused, and mismatched values appear as the setting
``zdm_mismatch_values`` says: ``hashed`` (default: safe to upload), ``keys`` (column names only) or ``full``.
Keys and column names are always shown.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_zdm.consistency.report import MISMATCH, MISSING_ON_TARGET, Difference, Report
from pytest_zdm.errors import SettingError
from pytest_zdm.settings import resolve

HASH = "$2a$10$Yk3rQ0tY4s3cR3tSaLtEdHaShOfTheOriginRole"
OTHER = "$2a$10$AnOtHeRsAlTeDhAsHoNtHeTaRgEtClUsTeRrOlE"


def _settings(**cli: str):
    return resolve(cli=cli, ini={}, environ={}, rootdir=Path("/p"))


@pytest.mark.parametrize(
    "tables",
    [
        "system_auth.roles",
        "shop.orders,system.local",
        "System_Schema.tables",
        "system_distributed.repair_history",
        "dse_security.role_permissions",
        "system_views.settings",
    ],
)
def test_system_keyspaces_are_refused_for_comparison(tables: str) -> None:
    with pytest.raises(SettingError) as err:
        _settings(zdm_compare_tables=tables)
    message = str(err.value)
    assert message.startswith("zdm_compare_tables: ") and "a system keyspace" in message, message
    assert "\n" not in message


def test_ordinary_tables_are_still_accepted() -> None:
    assert _settings(zdm_compare_tables="shop.orders, systems.inventory").zdm_compare_tables == (
        "shop.orders",
        "systems.inventory",
    )


def _mismatch() -> Difference:
    return Difference(
        MISMATCH, {"role": "app_user"}, {"salted_hash": (HASH, OTHER), "can_login": (True, True)}
    )


def test_the_default_shows_no_value_of_a_mismatch_anywhere(tmp_path: Path) -> None:
    """The default rendering (terminal, JUnit, Allure, JSON lines) holds keys and columns, no value."""
    assert _settings().zdm_mismatch_values == "hashed"
    report = Report("shop", "roles", splits_total=1, differences=[_mismatch()])
    text = str(report.differences[0])
    path = report.write_json_lines(tmp_path / "mismatches.jsonl")
    dumped = path.read_text()
    for shown in (text, dumped):
        assert HASH not in shown and OTHER not in shown and "Yk3rQ0" not in shown, shown
        assert "app_user" in shown and "salted_hash" in shown, "keys and column names are always shown"
    line = json.loads(dumped.splitlines()[0])
    assert line["values"] == "hashed"
    origin, target = line["columns"]["salted_hash"]["origin"], line["columns"]["salted_hash"]["target"]
    assert origin != target, "hashes still tell a reviewer that the two values differ"


def test_equal_values_hash_equal_and_keys_mode_shows_only_column_names(tmp_path: Path) -> None:
    same = Difference(MISMATCH, {"id": 1}, {"v": ("alice@example.com", "alice@example.com ")})
    again = Difference(MISMATCH, {"id": 2}, {"v": ("alice@example.com", "bob@example.com")})
    hashed = [same.render("hashed"), again.render("hashed")]
    assert hashed[0]["columns"]["v"]["origin"] == hashed[1]["columns"]["v"]["origin"]
    assert "alice" not in json.dumps(hashed)
    keys = same.render("keys")
    assert keys["columns"] == {"v": "differs"} and keys["key"] == {"id": 1}
    assert "alice" not in same.describe("keys") and "v" in same.describe("keys")
    full = same.render("full")
    assert full["columns"]["v"] == {"origin": "alice@example.com", "target": "alice@example.com "}
    assert "alice@example.com" in same.describe("full")


def test_missing_rows_show_their_key_in_every_mode() -> None:
    missing = Difference(MISSING_ON_TARGET, {"id": 7, "email": "k@example.com"})
    for mode in ("hashed", "keys", "full"):
        assert "k@example.com" in missing.describe(mode)


def test_the_setting_takes_three_values() -> None:
    for mode in ("hashed", "keys", "full"):
        assert _settings(zdm_mismatch_values=mode).zdm_mismatch_values == mode
    with pytest.raises(SettingError, match=r"^zdm_mismatch_values: expected one of hashed, keys, full"):
        _settings(zdm_mismatch_values="partial")
