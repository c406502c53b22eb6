"""GeoIP2 City/Country lookups that survive the database file being replaced or damaged."""

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geoip2.errors
import geoip2.models

from geo.addresses import IPAddress, parse_ip, unmap_ipv4, unroutable_reason
from geo.errors import GeoDatabaseError
from geo.mmdb_open import REPLACE_HINT, FileSignature, OpenedDatabase, open_database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a GeoIP2 database places an address. Country databases carry no coordinates."""

    lat: float | None
    lon: float | None
    country: str | None
    city: str | None
    continent: str | None
    accuracy_radius: int | None
    database_type: str


class GeoIPDatabase:
    """A memory-mapped GeoIP2 City or Country database that picks up a replaced file.

    The file is checked for replacement (by inode, size and mtime) at most every
    ``check_interval`` seconds during lookups, and whenever ``reload_if_changed()`` is called.
    A sound replacement is swapped in atomically; a corrupt one is rejected, recorded in
    ``last_error``, and the database already loaded keeps serving.

    Safe to share between threads. No lookup waits for another thread's reload: the lookup
    that finds the file changed opens it, the others carry on with the loaded copy. Lookups
    read a memory map, so they may touch the disk; from asyncio, call them in a thread.

    Replace the file by renaming a complete copy over it (as geoipupdate does). A file
    rewritten in place is picked up too, but until then lookups read the old mapping of the
    changing file: they may see a mix of versions, and if the file shrank the kernel kills
    the process with SIGBUS, which no mmap reader can catch.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if check_interval < 0:
            raise ValueError(
                f"check_interval={check_interval} is negative; use 0 to check on every lookup"
            )
        self._path = Path(path)
        self._check_interval = check_interval
        self._clock = clock
        self._current: OpenedDatabase = open_database(self._path)
        self._reload_lock = threading.Lock()
        self._next_check = clock() + check_interval
        self._rejected: FileSignature | None = None
        self._last_error: GeoDatabaseError | None = None
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    @property
    def database_type(self) -> str:
        """e.g. ``GeoLite2-City``, of the database currently serving lookups."""
        return self._current.database_type

    @property
    def last_error(self) -> GeoDatabaseError | None:
        """Why the latest replacement file was rejected; None once a reload succeeds."""
        return self._last_error

    def lookup(self, ip: str) -> Location | None:
        """The location of ``ip``, or None when no database can place it.

        None for private, loopback, link-local, unspecified, reserved and other
        non-global addresses, and for addresses the database has no record for.
        Raises InvalidAddressError when ``ip`` is not an IP address, and GeoDatabaseError
        when the record for it turns out to be corrupt.
        """
        address = parse_ip(ip)
        if unroutable_reason(address) is not None:
            return None
        if self._closed:
            raise GeoDatabaseError(
                f"GeoIP2 database {self._path} was closed; look up through an open one"
            )
        self._check_if_due()
        # One read of the reference: a reload swapping it mid-lookup cannot mix two files,
        # and the old reader stays mapped for as long as this lookup holds it.
        return _lookup_in(self._current, self._path, unmap_ipv4(address))

    def reload_if_changed(self) -> bool:
        """Swap in the file on disk if it changed since it was loaded; True if swapped."""
        with self._reload_lock:
            return self._reload_locked()

    def close(self) -> None:
        with self._reload_lock:
            self._closed = True
            self._current.reader.close()

    def __enter__(self) -> "GeoIPDatabase":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_if_due(self) -> None:
        if self._clock() < self._next_check:
            return
        # Another thread is already checking: this lookup goes on with the current file.
        if not self._reload_lock.acquire(blocking=False):
            return
        try:
            self._next_check = self._clock() + self._check_interval
            self._reload_locked()
        finally:
            self._reload_lock.release()

    def _reload_locked(self) -> bool:
        if self._closed:
            return False
        try:
            signature = FileSignature.of(os.stat(self._path))
        except OSError as exc:
            self._last_error = GeoDatabaseError(
                f"GeoIP2 database {self._path} cannot be checked for updates "
                f"({exc.strerror}); still serving the copy loaded earlier. Restore the file"
            )
            return False
        if signature in (self._current.signature, self._rejected):
            return False
        try:
            replacement = open_database(self._path)
        except GeoDatabaseError as exc:
            # Remember the bad file so it is not re-read on every check until it changes.
            self._rejected = signature
            self._last_error = exc
            log.warning("%s; still serving the copy loaded earlier", exc)
            return False
        # The retired reader is not closed here: lookups in flight still read it, and its
        # memory map is released when the last of them drops the reference.
        self._current = replacement
        self._rejected = None
        self._last_error = None
        log.info("GeoIP2 database %s reloaded (%s)", self._path, replacement.database_type)
        return True


def _lookup_in(db: OpenedDatabase, path: Path, address: IPAddress) -> Location | None:
    if address.version == 6 and db.ip_version == 4:
        return None
    try:
        if db.kind == "City":
            return _city_location(db.reader.city(address), db.database_type)
        return _country_location(db.reader.country(address), db.database_type)
    except geoip2.errors.AddressNotFoundError:
        return None
    # As at open: corrupt bytes fail in the decoder with any exception type.
    except Exception as exc:
        raise GeoDatabaseError(
            f"GeoIP2 database {path} has a corrupt record for {address} "
            f"({type(exc).__name__}: {exc}); {REPLACE_HINT}"
        ) from None


def _city_location(record: geoip2.models.City, database_type: str) -> Location:
    return Location(
        lat=record.location.latitude,
        lon=record.location.longitude,
        country=record.country.iso_code,
        city=record.city.name,
        continent=record.continent.code,
        accuracy_radius=record.location.accuracy_radius,
        database_type=database_type,
    )


def _country_location(record: geoip2.models.Country, database_type: str) -> Location:
    return Location(
        lat=None,
        lon=None,
        country=record.country.iso_code,
        city=None,
        continent=record.continent.code,
        accuracy_radius=None,
        database_type=database_type,
    )
