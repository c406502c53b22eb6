"""Reading a store URL into where the store lives; no I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

ACCEPTED_FORMS = (
    "memory://",
    "sqlite:///relative/path.db",
    "sqlite:////absolute/path.db",
    "redis://[:PASSWORD@]HOST[:PORT][/DB]",
    "rediss://[:PASSWORD@]HOST[:PORT][/DB] (TLS)",
    "redis+sentinel://[:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/SERVICE[/DB]",
)
DEFAULT_REDIS_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379


class StoreURLError(ValueError):
    def __init__(self, url: str, problem: str) -> None:
        super().__init__(
            f"store URL {redact(url)!r}: {problem}; use one of: " + ", ".join(ACCEPTED_FORMS)
        )
        self.url = redact(url)


@dataclass(frozen=True, slots=True)
class MemoryLocation:
    pass


@dataclass(frozen=True, slots=True)
class SqliteLocation:
    path: Path  # relative paths are relative to the working directory


@dataclass(frozen=True, slots=True)
class RedisLocation:
    url: str  # handed to redis-py as written: it reads password, db and TLS options itself
    where: str  # host:port/db, without credentials, for messages


@dataclass(frozen=True, slots=True)
class SentinelLocation:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None
    where: str


StoreLocation = MemoryLocation | SqliteLocation | RedisLocation | SentinelLocation


def redact(url: str) -> str:
    """``url`` with any password replaced, so it can go into messages and logs."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hosts = rest.partition("@")
    if not sep or not at or "/" in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{hosts}"


def parse_store_url(url: str) -> StoreLocation:
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        raise StoreURLError(url, "it has no scheme")
    scheme = scheme.lower()
    if scheme == "memory":
        if rest:
            raise StoreURLError(url, "memory:// takes nothing after the scheme")
        return MemoryLocation()
    if scheme == "sqlite":
        return _sqlite(url, rest)
    if scheme in ("redis", "rediss"):
        return _redis(url)
    if scheme == "redis+sentinel":
        return _sentinel(url, rest)
    raise StoreURLError(url, f"unknown scheme {scheme!r}")


def _sqlite(url: str, rest: str) -> SqliteLocation:
    if not rest.startswith("/"):
        raise StoreURLError(url, "a sqlite URL has three slashes before a relative path")
    path = rest[1:]
    if not path or path.endswith("/"):
        raise StoreURLError(url, "the sqlite URL names no database file")
    return SqliteLocation(Path(unquote(path)))


def _redis(url: str) -> RedisLocation:
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_REDIS_PORT
    except ValueError:
        raise StoreURLError(url, "the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise StoreURLError(url, "it names no host")
    db = _db(url, parts.path.strip("/") or "0")
    return RedisLocation(url=url, where=f"{parts.hostname}:{port}/{db}")


def _sentinel(url: str, rest: str) -> SentinelLocation:
    authority, _, path = rest.partition("/")
    userinfo, at, hostlist = authority.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels = tuple(_host_port(url, item) for item in hostlist.split(","))
    service, _, db_text = path.strip("/").partition("/")
    if not service:
        raise StoreURLError(url, "it names no Sentinel service (the master group name)")
    db = _db(url, db_text or "0")
    hosts = ",".join(f"{host}:{port}" for host, port in sentinels)
    return SentinelLocation(
        sentinels, service, db, username, password, where=f"sentinel {hosts}/{service}/{db}"
    )


def _host_port(url: str, item: str) -> tuple[str, int]:
    host, colon, port_text = item.strip().rpartition(":")
    if not colon:
        host, port_text = item.strip(), str(DEFAULT_SENTINEL_PORT)
    host = host.strip("[]")
    if not host:
        raise StoreURLError(url, f"sentinel address {item!r} names no host")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise StoreURLError(url, f"sentinel port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _db(url: str, text: str) -> int:
    if not text.isdigit():
        raise StoreURLError(url, f"database {text!r} is not a number such as 0")
    return int(text)
