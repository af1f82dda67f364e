"""Tests of trailbeam.spill: chunks of encoded events survive pack/unpack exactly, in order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailbeam import spill
from trailbeam.spill import pack, unpack

CASES = [
    ("empty", []),
    ("one", [(1714564800000000, "e-1", b"\x02avro")]),
    ("negative-time", [(-1, "e", b"x"), (-(2**63), "min", b"y")]),
    ("max-time", [(2**63 - 1, "max", b"z")]),
    ("unicode-id", [(0, "\u00e9v\u00e9nement-\u65e5-\U0001F600", b"d")]),
    ("empty-id-and-data", [(5, "", b"")]),
    ("binary-data", [(7, "e", bytes(range(256)) * 4)]),
    ("big-data", [(8, "big", b"\x00\xff" * 100_000)]),
    ("order-kept", [(3, "c", b"3"), (1, "a", b"1"), (2, "b", b"2"), (1, "a", b"1")]),
    ("many", [(i * 1_000_000, f"id-{i}", f"data-{i}".encode() * (i % 7)) for i in range(2_000)]),
]


@pytest.mark.parametrize("entries", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_unpack_of_pack_gives_the_entries(entries):
    unpacked = unpack(pack(entries))
    assert unpacked == entries
    assert all(type(data) is bytes and type(event_id) is str for _, event_id, data in unpacked)


def test_pack_accepts_any_iterable_and_compresses():
    entries = [(i, "same-id", b"same data " * 20) for i in range(500)]
    chunk = pack(iter(entries))
    assert unpack(chunk) == entries
    assert len(chunk) < sum(len(data) for _, _, data in entries) // 10


def test_pack_is_deterministic():
    entries = [(1, "a", b"x"), (2, "b", b"y")]
    assert pack(entries) == pack(list(entries))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.text(max_size=20), st.binary(max_size=50)),
                max_size=20))
def test_unpack_of_pack_is_the_identity(entries):
    assert unpack(pack(entries)) == entries


def test_buffer_gathers_files_per_key_until_full():
    buffer = spill.Buffer(limit_bytes=10)
    assert not buffer.add({"b#01": [(2, "e2", b"yy")], "a#00": [(1, "e1", b"x")]}, 3)
    assert buffer.add({"b#01": [(3, "e3", b"zzzzzzz")]}, 7)
    drained = buffer.drain()
    assert [key for key, _ in drained] == ["a#00", "b#01"]
    assert spill.unpack(drained[1][1]) == [(2, "e2", b"yy"), (3, "e3", b"zzzzzzz")]
    assert buffer.drain() == []
