"""Store URLs: each accepted form, and a clear error for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.store import MemoryStore, SqliteStore, StoreURLError, open_store
from federation.store.url import (
    MemoryLocation,
    RedisLocation,
    SentinelLocation,
    SqliteLocation,
    StoreLocation,
    parse_store_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("memory://", MemoryLocation()),
        ("sqlite:///./.meshfed/state.db", SqliteLocation(Path("./.meshfed/state.db"))),
        ("sqlite:///state.db", SqliteLocation(Path("state.db"))),
        ("sqlite:////var/lib/meshfed/state.db", SqliteLocation(Path("/var/lib/meshfed/state.db"))),
        ("redis://10.0.0.5:6380/2", RedisLocation("redis://10.0.0.5:6380/2", "10.0.0.5:6380/2")),
        ("redis://cache", RedisLocation("redis://cache", "cache:6379/0")),
        (
            "rediss://:s3cret@cache.example:6380/1",
            RedisLocation("rediss://:s3cret@cache.example:6380/1", "cache.example:6380/1"),
        ),
        (
            "redis+sentinel://10.0.0.1:26379,10.0.0.2/mymaster/3",
            SentinelLocation(
                (("10.0.0.1", 26379), ("10.0.0.2", 26379)),
                "mymaster",
                3,
                None,
                None,
                "sentinel 10.0.0.1:26379,10.0.0.2:26379/mymaster/3",
            ),
        ),
        (
            "redis+sentinel://app:pw@s1:5000/main",
            SentinelLocation((("s1", 5000),), "main", 0, "app", "pw", "sentinel s1:5000/main/0"),
        ),
    ],
)
def test_accepted_urls_parse_to_their_location(url: str, expected: StoreLocation) -> None:
    assert parse_store_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "no scheme"),
        ("/var/lib/state.db", "no scheme"),
        ("postgres://db/meshfed", "unknown scheme 'postgres'"),
        ("memory://named", "takes nothing"),
        ("sqlite://state.db", "three slashes"),
        ("sqlite:///", "names no database file"),
        ("sqlite:///data/", "names no database file"),
        ("redis://:6379/0", "names no host"),
        ("redis://cache:notaport/0", "port is not a number"),
        ("redis://cache:6379/zero", "database 'zero' is not a number"),
        ("redis+sentinel://s1:26379/", "names no Sentinel service"),
        ("redis+sentinel://s1:x/main", "sentinel port 'x'"),
        ("redis+sentinel://,s1/main", "names no host"),
        ("redis+sentinel://s1/main/db", "database 'db'"),
    ],
)
def test_malformed_urls_raise_an_error_naming_the_problem_and_the_accepted_forms(
    url: str, problem: str
) -> None:
    with pytest.raises(StoreURLError) as caught:
        parse_store_url(url)
    message = str(caught.value)
    assert problem in message
    assert "memory://" in message and "sqlite:///" in message and "redis+sentinel://" in message
    assert isinstance(caught.value, ValueError)


def test_redis_options_redis_py_rejects_raise_a_store_url_error() -> None:
    with pytest.raises(StoreURLError, match="socket_timeout"):
        open_store("redis://cache:6379/0?socket_timeout=soon")


def test_url_errors_never_echo_a_password() -> None:
    with pytest.raises(StoreURLError) as caught:
        open_store("redis://:hunter2@cache:6379/zero")
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


async def test_open_store_builds_the_backend_the_url_names(tmp_path: Path) -> None:
    memory = open_store("memory://")
    assert isinstance(memory, MemoryStore)
    sqlite = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    assert isinstance(sqlite, SqliteStore)
    assert sqlite.path == tmp_path / "state.db"
    await memory.close()
    await sqlite.close()
