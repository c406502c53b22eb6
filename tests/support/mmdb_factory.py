"""Builders of small GeoIP2-shaped MaxMind DB files, and of corrupt copies of them.

The files are written with mmdb-writer in the layout MaxMind ships: an IPv6 search tree
that also holds IPv4 networks (under ::/96), records shaped like GeoIP2 City or Country.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import maxminddb
from mmdb_writer import MmdbF64, MmdbU16, MMDBWriter
from netaddr import IPSet

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
_SEPARATOR_SIZE = 16


class CityEntry(NamedTuple):
    cidr: str
    city: str
    country: str
    continent: str
    lat: float
    lon: float
    accuracy_radius: int = 20


class CountryEntry(NamedTuple):
    cidr: str
    country: str
    continent: str


def city_record(entry: CityEntry) -> dict[str, object]:
    return {
        "city": {"names": {"en": entry.city}},
        "continent": {"code": entry.continent, "names": {"en": entry.continent}},
        "country": {"iso_code": entry.country, "names": {"en": entry.country}},
        "location": {
            "latitude": MmdbF64(entry.lat),
            "longitude": MmdbF64(entry.lon),
            "accuracy_radius": MmdbU16(entry.accuracy_radius),
        },
    }


def country_record(entry: CountryEntry) -> dict[str, object]:
    return {
        "continent": {"code": entry.continent, "names": {"en": entry.continent}},
        "country": {"iso_code": entry.country, "names": {"en": entry.country}},
    }


def write_city_db(
    path: Path,
    entries: Iterable[CityEntry | tuple[str, str, str, str, float, float]],
    database_type: str = "GeoIP2-City",
) -> Path:
    """Write a City database; an entry is (cidr, city, country, continent, lat, lon[, radius])."""
    records = [(e[0], city_record(CityEntry(*e))) for e in entries]
    return _write(path, database_type, records)


def write_country_db(
    path: Path,
    entries: Iterable[CountryEntry | tuple[str, str, str]],
    database_type: str = "GeoIP2-Country",
) -> Path:
    records = [(e[0], country_record(CountryEntry(*e))) for e in entries]
    return _write(path, database_type, records)


def _write(path: Path, database_type: str, records: list[tuple[str, dict[str, object]]]) -> Path:
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=database_type,
        languages=["en"],
        description=f"meshfed test {database_type} database",
    )
    for cidr, record in records:
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def search_tree_span(path: Path) -> tuple[int, int]:
    """(tree size, data section start) in bytes, from the file's own metadata."""
    with maxminddb.open_database(str(path), maxminddb.MODE_MEMORY) as reader:
        tree_size = reader.metadata().search_tree_size
    return tree_size, tree_size + _SEPARATOR_SIZE


def corrupt_truncated(src: Path, dst: Path, keep_fraction: float = 0.5) -> Path:
    """A copy cut short, as left by an interrupted download."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep_fraction)])
    return dst


def corrupt_tree_cut_short(src: Path, dst: Path) -> Path:
    """A copy that keeps its metadata but lost the second half of its search tree and all data,
    as when a file is spliced together from two incomplete downloads."""
    tree_size, _ = search_tree_span(src)
    data = src.read_bytes()
    dst.write_bytes(data[: tree_size // 2] + data[data.rfind(METADATA_MARKER) :])
    return dst


def corrupt_search_tree(src: Path, dst: Path) -> Path:
    """A copy whose search tree records all point far outside the file."""
    tree_size, _ = search_tree_span(src)
    data = bytearray(src.read_bytes())
    data[:tree_size] = b"\xff" * tree_size
    dst.write_bytes(bytes(data))
    return dst


def corrupt_data_section(src: Path, dst: Path) -> Path:
    """A copy with a sound search tree whose records decode to garbage."""
    _, data_start = search_tree_span(src)
    data = bytearray(src.read_bytes())
    metadata_at = data.rfind(METADATA_MARKER)
    data[data_start:metadata_at] = b"\xff" * (metadata_at - data_start)
    dst.write_bytes(bytes(data))
    return dst


def metadata_marker_only(dst: Path) -> Path:
    """A file holding nothing but the metadata marker."""
    dst.write_bytes(METADATA_MARKER)
    return dst
