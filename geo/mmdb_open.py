"""Opening a GeoIP2 database file and proving it sound before it serves lookups."""

import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geoip2.database
import maxminddb
import maxminddb.reader

from geo.errors import GeoDatabaseError
from geo.mmdb_layout import TreeShape, find_metadata_marker, layout_problem

DatabaseKind = Literal["City", "Country"]
REPLACE_HINT = "replace it with a fresh copy (e.g. run geoipupdate) or remove geoip.city_db"
# A file replaced while it is being opened is opened again, this many times at most.
_OPEN_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class FileSignature:
    """What identifies one version of a file on disk; any change means a new file."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> "FileSignature":
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class OpenedDatabase:
    reader: geoip2.database.Reader
    signature: FileSignature
    kind: DatabaseKind
    database_type: str
    ip_version: int


def open_database(path: Path) -> OpenedDatabase:
    """Open ``path`` memory-mapped, after checking the whole file's structure.

    Raises GeoDatabaseError naming the file for a missing, unreadable or corrupt file, and
    for databases that are neither City nor Country (ASN, ISP, ...).
    """
    for _ in range(_OPEN_ATTEMPTS):
        opened = _open_once(path)
        if opened is not None:
            return opened
    raise GeoDatabaseError(
        f"GeoIP2 database {path} kept changing while it was being opened; "
        "replace it atomically (write a temporary file, then rename it over the old one)"
    )


def _open_once(path: Path) -> OpenedDatabase | None:
    """The opened database, or None when the file was swapped between check and open."""
    try:
        with open(path, "rb") as file:
            signature = FileSignature.of(os.fstat(file.fileno()))
            if signature.size == 0:
                raise GeoDatabaseError(f"GeoIP2 database {path} is empty; {REPLACE_HINT}")
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                reader, kind = _checked_reader(path, buffer)
            # The reader maps the path anew; make sure that is still the file just checked.
            if FileSignature.of(os.stat(path)) != signature:
                reader.close()
                return None
    except FileNotFoundError:
        raise GeoDatabaseError(
            f"GeoIP2 database {path} does not exist; point geoip.city_db at a GeoLite2 or "
            "GeoIP2 City .mmdb file, or remove the setting to use the default location"
        ) from None
    except OSError as exc:
        raise GeoDatabaseError(
            f"GeoIP2 database {path} cannot be read ({exc.strerror}); make it a readable "
            "regular file for the meshfed user"
        ) from None
    metadata = reader.metadata()
    return OpenedDatabase(
        reader,
        signature,
        kind,
        metadata.database_type,
        metadata.ip_version,
    )


def _checked_reader(path: Path, buffer: mmap.mmap) -> tuple[geoip2.database.Reader, DatabaseKind]:
    marker_at = find_metadata_marker(buffer)
    if marker_at < 0:
        raise _corrupt(path, "no MaxMind DB metadata section: truncated or not an .mmdb file")
    try:
        reader = geoip2.database.Reader(str(path), mode=maxminddb.MODE_MMAP)
    # The reader decodes arbitrary bytes from disk; garbage surfaces as whatever the decoder
    # trips on (UnicodeDecodeError, TypeError, struct.error, ...), all of which mean "corrupt".
    except Exception as exc:
        raise _corrupt(path, f"{type(exc).__name__}: {exc}") from None
    try:
        return reader, _checked_kind(path, buffer, marker_at, reader.metadata())
    except GeoDatabaseError:
        reader.close()
        raise


def _checked_kind(
    path: Path, buffer: mmap.mmap, marker_at: int, metadata: maxminddb.reader.Metadata
) -> DatabaseKind:
    shape = TreeShape(
        metadata.node_count,
        metadata.record_size,
        metadata.ip_version,
        metadata.binary_format_major_version,
    )
    problem = layout_problem(buffer, shape, marker_at)
    if problem is not None:
        raise _corrupt(path, problem)
    # geoip2 itself chooses the record model by these substrings of the database type.
    if "City" in metadata.database_type:
        return "City"
    if "Country" in metadata.database_type:
        return "Country"
    raise GeoDatabaseError(
        f"GeoIP2 database {path} is a {metadata.database_type!r} database, which has no "
        "locations; use a GeoLite2/GeoIP2 City (or Country) database"
    )


def _corrupt(path: Path, detail: str) -> GeoDatabaseError:
    return GeoDatabaseError(f"GeoIP2 database {path} is corrupt ({detail}); {REPLACE_HINT}")
