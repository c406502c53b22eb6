"""Structural checks of a MaxMind DB file, so corruption is found when the file is opened.

The reader decodes lazily: a garbled search tree or a short file otherwise surfaces as a
failure on whichever lookup first walks into the damage. These checks cover the whole search
tree in one pass over its columns of bytes, which runs in C-level loops (about a second for a
full GeoLite2 City database).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
# The specification caps the metadata section at 128 KiB, so the marker is searched for there.
METADATA_MAX_SIZE = 128 * 1024
DATA_SECTION_SEPARATOR = bytes(16)
_NIBBLE_HIGH = bytes(b >> 4 for b in range(256))
_NIBBLE_LOW = bytes(b & 0x0F for b in range(256))


class ByteBuffer(Protocol):
    """What both ``bytes`` and ``mmap.mmap`` offer: length, (extended) slicing, rfind."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice, /) -> bytes: ...

    def rfind(self, sub: bytes, start: int = ..., /) -> int: ...


@dataclass(frozen=True, slots=True)
class TreeShape:
    """The metadata fields that fix where the search tree and data section lie."""

    node_count: int
    record_size: int
    ip_version: int
    binary_format_major_version: int


def find_metadata_marker(buffer: ByteBuffer) -> int:
    """Offset of the metadata marker, or -1 when the file has none (truncated, not an mmdb)."""
    return buffer.rfind(METADATA_MARKER, max(0, len(buffer) - METADATA_MAX_SIZE))


def layout_problem(buffer: ByteBuffer, shape: TreeShape, marker_at: int) -> str | None:
    """Describe the first structural defect of the file, or None when the layout is sound."""
    if shape.binary_format_major_version != 2:
        return f"binary format version {shape.binary_format_major_version} is not 2"
    if shape.ip_version not in (4, 6):
        return f"ip_version {shape.ip_version} is neither 4 nor 6"
    if shape.record_size not in (24, 28, 32):
        return f"record size {shape.record_size} is not 24, 28 or 32 bits"
    if shape.node_count <= 0:
        return f"node count {shape.node_count} leaves the search tree empty"
    tree_size = shape.node_count * shape.record_size // 4
    data_start = tree_size + len(DATA_SECTION_SEPARATOR)
    if data_start > marker_at:
        return (
            f"the search tree of {shape.node_count} nodes needs {data_start} bytes but the "
            f"metadata starts at byte {marker_at}: the file is truncated"
        )
    if buffer[tree_size:data_start] != DATA_SECTION_SEPARATOR:
        return "the 16 zero bytes between search tree and data section are not zero"
    # A record is a node number (< node_count), "no data" (== node_count) or a pointer into
    # the data section (node_count + 16 + offset).
    limit = shape.node_count + len(DATA_SECTION_SEPARATOR) + (marker_at - data_start)
    largest = max(_records_maxima(buffer[:tree_size], shape.record_size))
    if largest >= limit:
        return f"the search tree points at record {largest}, past the data section (< {limit})"
    return None


def _records_maxima(tree: bytes, record_size: int) -> Iterator[int]:
    """The largest left record and the largest right record of the tree.

    Records are big-endian, so the largest record is the lexicographically largest tuple of
    its bytes; taking columns with extended slices keeps the scan out of Python bytecode.
    In 28-bit records the middle byte's high nibble belongs to the left record.
    """
    node = record_size // 4
    if record_size == 28:
        middle = tree[3::7]
        columns = (
            [middle.translate(_NIBBLE_HIGH), tree[0::7], tree[1::7], tree[2::7]],
            [middle.translate(_NIBBLE_LOW), tree[4::7], tree[5::7], tree[6::7]],
        )
    else:
        half = node // 2
        columns = (
            [tree[i::node] for i in range(half)],
            [tree[i::node] for i in range(half, node)],
        )
    for side in columns:
        digits = max(zip(*side, strict=True))
        # 28-bit records carry a 4-bit top digit; every other digit is a whole byte.
        widths = [4 if record_size == 28 and i == 0 else 8 for i in range(len(digits))]
        value = 0
        for digit, width in zip(digits, widths, strict=True):
            value = (value << width) | digit
        yield value
