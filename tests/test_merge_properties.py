"""Property-based tests of the merge: whatever the data, it finds exactly what a dict diff finds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_zdm.consistency.merge import Layout, merge
from pytest_zdm.consistency.report import MISMATCH, MISSING_ON_ORIGIN, MISSING_ON_TARGET, Difference

LAYOUT = Layout(partition=(1,), clustering=(2,), key_names=("pk", "ck"), static=(), regular=(("v", 3),))
keys = st.tuples(st.integers(0, 30), st.integers(0, 5))
tables = st.dictionaries(keys, st.integers(0, 3), max_size=60)


def token(pk: int) -> int:
    return pk % 7 - 3  # few tokens: many partitions share one (hash collisions), negative tokens too


def stream(table: dict[tuple[int, int], int], reverse_within_token: bool) -> list[tuple[int, int, int, int]]:
    rows = [(token(pk), pk, ck, v) for (pk, ck), v in table.items()]
    # token order is what Cassandra guarantees; the order inside a token group may differ between clusters
    return sorted(rows, key=lambda r: (r[0], -r[1] if reverse_within_token else r[1], r[2]))


@settings(max_examples=300, deadline=None)
@given(origin=tables, target=tables, flip=st.booleans())
def test_merge_finds_exactly_the_dict_differences(origin, target, flip):
    items = list(merge(LAYOUT, stream(origin, flip), stream(target, not flip)))
    diffs = [i for i in items if isinstance(i, Difference)]
    got = {(d.kind, d.key["pk"], d.key["ck"]) for d in diffs}
    expected = (
        {(MISSING_ON_TARGET, *k) for k in origin.keys() - target.keys()}
        | {(MISSING_ON_ORIGIN, *k) for k in target.keys() - origin.keys()}
        | {(MISMATCH, *k) for k in origin.keys() & target.keys() if origin[k] != target[k]}
    )
    assert got == expected
    assert len(diffs) == len(got), "a difference was reported twice"
    assert sum(i for i in items if isinstance(i, int)) == len(origin.keys() | target.keys())
    for d in diffs:
        if d.kind == MISMATCH:
            k = (d.key["pk"], d.key["ck"])
            assert d.columns == {"v": (origin[k], target[k])}


@given(table=tables)
def test_identical_streams_have_no_difference(table):
    items = list(merge(LAYOUT, stream(table, False), stream(table, False)))
    assert not [i for i in items if isinstance(i, Difference)]
