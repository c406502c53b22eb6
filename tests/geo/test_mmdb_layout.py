import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.mmdb_layout import METADATA_MARKER, TreeShape, find_metadata_marker, layout_problem

DATA_SIZE = 40


def encode_node(left: int, right: int, record_size: int) -> bytes:
    if record_size == 28:
        middle = (left >> 24) << 4 | (right >> 24)
        return (
            (left & 0xFFFFFF).to_bytes(3, "big")
            + bytes([middle])
            + (right & 0xFFFFFF).to_bytes(3, "big")
        )
    width = record_size // 8
    return left.to_bytes(width, "big") + right.to_bytes(width, "big")


def build(records: list[tuple[int, int]], record_size: int) -> tuple[bytes, TreeShape]:
    tree = b"".join(encode_node(left, right, record_size) for left, right in records)
    buffer = tree + bytes(16) + b"\x01" * DATA_SIZE + METADATA_MARKER + b"\xe0"
    return buffer, TreeShape(len(records), record_size, 6, 2)


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[tuple[int, int]], int]:
    record_size = draw(st.sampled_from([24, 28, 32]))
    record = st.integers(min_value=0, max_value=2**record_size - 1)
    nodes = draw(st.lists(st.tuples(record, record), min_size=1, max_size=30))
    return nodes, record_size


@given(trees())
def test_a_record_past_the_data_section_is_found_wherever_it_is(
    tree: tuple[list[tuple[int, int]], int],
) -> None:
    records, record_size = tree
    buffer, shape = build(records, record_size)
    limit = len(records) + 16 + DATA_SIZE
    problem = layout_problem(buffer, shape, find_metadata_marker(buffer))
    largest = max(max(pair) for pair in records)
    if largest >= limit:
        assert problem is not None and f"record {largest}," in problem
    else:
        assert problem is None


@pytest.mark.parametrize("record_size", [24, 28, 32])
def test_tree_of_in_range_records_is_sound(record_size: int) -> None:
    buffer, shape = build([(1, 3 + 16), (2, 2), (2 + 16 + DATA_SIZE - 1, 0)], record_size)
    assert layout_problem(buffer, shape, find_metadata_marker(buffer)) is None


@pytest.mark.parametrize(
    ("shape", "complaint"),
    [
        (TreeShape(1, 24, 6, 3), "binary format version 3"),
        (TreeShape(1, 24, 5, 2), "ip_version 5"),
        (TreeShape(1, 20, 6, 2), "record size 20"),
        (TreeShape(0, 24, 6, 2), "node count 0"),
        (TreeShape(50, 24, 6, 2), "truncated"),
    ],
)
def test_impossible_metadata_is_named(shape: TreeShape, complaint: str) -> None:
    buffer, _ = build([(0, 0)], 24)
    problem = layout_problem(buffer, shape, find_metadata_marker(buffer))
    assert problem is not None and complaint in problem


def test_non_zero_separator_is_named() -> None:
    buffer, shape = build([(1, 1)], 24)
    damaged = buffer[:6] + b"\x01" + buffer[7:]
    problem = layout_problem(damaged, shape, find_metadata_marker(damaged))
    assert problem is not None and "16 zero bytes" in problem


def test_file_without_marker_has_none() -> None:
    assert find_metadata_marker(b"\x00" * 100) == -1
