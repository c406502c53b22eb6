"""GET/PUT /v1/config and POST /v1/config:validate on a real server, and the whole-config
replace over a store that fails half-way."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from federation.config import parse_config
from federation.model import Role
from federation.problems import InvalidInputError
from federation.resources import (
    APPLY_KEY,
    KINDS,
    ApplyGate,
    ConfigState,
    ConflictError,
    committed_view,
)
from federation.store.base import (
    ChangeEvent,
    ChangeKind,
    Lease,
    LogEntry,
    Record,
    StoreUnavailableError,
)
from federation.store.memory import MemoryStore
from tests.federation.api.conftest import CONFIG, Api
from tests.federation.routing.conftest import serving


async def read_config(api: Api) -> tuple[dict[str, Any], str]:
    status, body, response = await api.call("GET", "/v1/config", Role.VIEWER)
    assert status == 200, body
    return body, response.headers["ETag"]


def names(document: dict[str, Any], section: str) -> list[str]:
    return [item["name"] for item in document[section]]


async def test_get_config_is_the_file_globals_and_the_stored_objects(api: Api) -> None:
    status, _, _ = await api.call(
        "PUT",
        "/v1/services/orders.prod",
        Role.OPERATOR,
        json={"port": 8080, "routing": {"mode": "weighted", "weights": {"aws-use1": 1}}},
    )
    assert status == 201
    body, etag = await read_config(api)
    assert body["federation"] == {"name": "acme", "trust_domain": "acme.mesh"}
    assert names(body, "services") == ["orders.prod", "payments.prod"]
    assert etag == f'"{body["revision"]}"'
    # Token entries are only hashes; the KEK itself is never part of the config.
    assert {t["name"] for t in body["api"]["tokens"]} >= {"admin-user"}


async def test_get_config_hides_the_store_password() -> None:
    text = CONFIG.replace("store: memory://", "store: redis://:hunter2@127.0.0.1:1/0")
    # The file names a Redis with a password; the server runs on memory:// all the same.
    async with serving(text, store_url="memory://") as api:
        body, _ = await read_config(api)
    assert body["store"] == "redis://:***@127.0.0.1:1/0"


async def test_validate_reports_every_problem_without_changing_anything(api: Api) -> None:
    before, _ = await read_config(api)
    document = {
        "federation": {"name": "acme", "trust_domain": "acme.mesh"},
        "clusters": [{"name": "aws-use1", "cloud": "aws", "region": "us-east-1", "zoen": "a"}],
        "services": [{"name": "x.prod", "port": 70000}],
    }
    status, body, _ = await api.call("POST", "/v1/config:validate", Role.OPERATOR, json=document)
    assert status == 200
    assert body["valid"] is False
    paths = {p["path"] for p in body["problems"]}
    assert {"clusters[0].zoen", "services[0].port"} <= paths
    assert all(p["message"] and "hint" in p for p in body["problems"])
    assert (await read_config(api))[0] == before


async def test_validate_accepts_a_good_document_and_warns_about_missing_files(api: Api) -> None:
    document = {
        "federation": {"name": "acme", "trust_domain": "acme.mesh"},
        "geoip": {"city_db": "/nonexistent/city.mmdb"},
    }
    status, body, _ = await api.call("POST", "/v1/config:validate", Role.OPERATOR, json=document)
    assert status == 200
    assert body["valid"] is True and body["problems"] == []
    assert [w["path"] for w in body["warnings"]] == ["geoip.city_db"]


async def test_validate_refuses_a_body_that_is_not_json(api: Api) -> None:
    status, body, _ = await api.call(
        "POST", "/v1/config:validate", Role.OPERATOR, data=b"federation: {name: a}"
    )
    assert status == 400
    assert "not valid JSON" in body["errors"][0]["message"]


async def test_validate_and_replace_need_an_operator(api: Api) -> None:
    status, _, _ = await api.call("POST", "/v1/config:validate", Role.VIEWER, json={})
    assert status == 403
    status, _, _ = await api.call("PUT", "/v1/config", Role.VIEWER, json={})
    assert status == 403


async def test_replace_swaps_every_object_at_once_and_is_audited(api: Api) -> None:
    document, etag = await read_config(api)
    document["services"] = [
        {
            "name": "orders.prod",
            "port": 8081,
            "routing": {"mode": "failover", "failover": ["gcp-euw1"]},
        }
    ]
    document["policies"] = []
    document["clusters"] = [c for c in document["clusters"] if c["name"] != "azure-weu"]
    status, body, response = await api.call(
        "PUT", "/v1/config", Role.OPERATOR, json=document, headers={"If-Match": etag}
    )
    assert status == 200, body
    assert body["created"] == ["services/orders.prod"]
    assert body["deleted"] == [
        "clusters/azure-weu",
        "policies/web-to-payments",
        "services/payments.prod",
    ]
    assert response.headers["ETag"] == f'"{body["revision"]}"'
    after, new_etag = await read_config(api)
    assert names(after, "services") == ["orders.prod"]
    assert names(after, "clusters") == ["aws-use1", "gcp-euw1"]
    assert new_etag == response.headers["ETag"] != etag
    _, audit, _ = await api.call("GET", "/v1/audit", Role.ADMIN)
    (record,) = [r for r in audit["items"] if r["action"] == "config.replace"]
    assert record["actor"] == "operator-user"
    assert record["detail"]["created"] == ["services/orders.prod"]

    async def routed() -> bool:
        status, _, _ = await api.call(
            "GET", "/v1/resolve?service=orders.prod&client_region=aws:us-east-1", Role.VIEWER
        )
        return status == 200

    deadline = asyncio.get_running_loop().time() + 5
    while not await routed():
        assert asyncio.get_running_loop().time() < deadline, "the new service is never routed"
        await asyncio.sleep(0.02)


async def test_replace_with_problems_changes_nothing_and_lists_them_all(api: Api) -> None:
    before, etag = await read_config(api)
    document = {
        **before,
        "services": [{"name": "orders.prod", "port": 0}],
        "policies": [{"name": "p", "action": "allow", "to": "nowhere.prod", "from": []}],
    }
    status, body, _ = await api.call(
        "PUT", "/v1/config", Role.OPERATOR, json=document, headers={"If-Match": etag}
    )
    assert status == 400
    paths = {e["path"] for e in body["errors"]}
    assert "services[0].port" in paths and any(p.startswith("policies[0]") for p in paths)
    assert await read_config(api) == (before, etag)
    _, audit, _ = await api.call("GET", "/v1/audit", Role.ADMIN)
    assert [r["action"] for r in audit["items"]][-1] == "config.replace.rejected"


async def test_replace_refuses_a_missing_or_misspelt_section(api: Api) -> None:
    before, etag = await read_config(api)
    document = {k: v for k, v in before.items() if k != "policies"} | {"servics": []}
    status, body, _ = await api.call(
        "PUT", "/v1/config", Role.OPERATOR, json=document, headers={"If-Match": etag}
    )
    assert status == 400
    assert {e["path"] for e in body["errors"]} == {"policies", "servics"}


async def test_replace_after_another_write_is_412_and_without_if_match_428(api: Api) -> None:
    document, etag = await read_config(api)
    status, _, _ = await api.call(
        "PUT",
        "/v1/services/orders.prod",
        Role.OPERATOR,
        json={"port": 8080, "routing": {"mode": "weighted", "weights": {"aws-use1": 1}}},
    )
    assert status == 201
    status, body, _ = await api.call(
        "PUT", "/v1/config", Role.OPERATOR, json=document, headers={"If-Match": etag}
    )
    assert status == 412, body
    assert "GET /v1/config" in body["detail"]
    status, body, _ = await api.call("PUT", "/v1/config", Role.OPERATOR, json=document)
    assert status == 428
    assert names((await read_config(api))[0], "services") == ["orders.prod", "payments.prod"]


# -- a store that fails half-way -------------------------------------------------------------


class RefusingStore:
    """A real MemoryStore that refuses writes from the Nth put on (``until`` puts later it
    works again), as a store does when it goes away in the middle of a sequence."""

    def __init__(self, inner: MemoryStore, refuse_from: int, refuse_count: int = 1) -> None:
        self.inner = inner
        self.puts = 0
        self.refuse_from = refuse_from
        self.refuse_count = refuse_count

    def _refused(self) -> bool:
        self.puts += 1
        return self.refuse_from <= self.puts < self.refuse_from + self.refuse_count

    async def ping(self) -> None:
        await self.inner.ping()

    async def get(self, key: str) -> Record | None:
        return await self.inner.get(key)

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expect_revision: int | None = None,
        fence: Lease | None = None,
    ) -> Record:
        if self._refused():
            raise StoreUnavailableError(f"test store refuses put #{self.puts} ({key})")
        return await self.inner.put(key, value, expect_revision=expect_revision, fence=fence)

    async def delete(
        self, key: str, *, expect_revision: int | None = None, fence: Lease | None = None
    ) -> bool:
        if self._refused():
            raise StoreUnavailableError(f"test store refuses write #{self.puts} (delete {key})")
        return await self.inner.delete(key, expect_revision=expect_revision, fence=fence)

    async def list_prefix(self, prefix: str) -> list[Record]:
        return await self.inner.list_prefix(prefix)

    async def revision(self) -> int:
        return await self.inner.revision()

    def watch(self, prefix: str, *, since_revision: int = 0) -> AsyncGenerator[ChangeEvent, None]:
        return self.inner.watch(prefix, since_revision=since_revision)

    async def append(self, log: str, data: bytes) -> LogEntry:
        return await self.inner.append(log, data)

    async def read_log(self, log: str, *, after: int = 0, limit: int = 100) -> list[LogEntry]:
        return await self.inner.read_log(log, after=after, limit=limit)

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        return await self.inner.acquire_lease(name, holder, ttl)

    async def release_lease(self, lease: Lease) -> None:
        await self.inner.release_lease(lease)

    async def close(self) -> None:
        await self.inner.close()


NEW_OBJECTS = {
    "clusters": [
        {"name": "aws-use1", "cloud": "aws", "region": "us-east-1", "zone": "use1-az1"},
        {"name": "gcp-euw1", "cloud": "gcp", "region": "europe-west1"},
        {"name": "aws-usw2", "cloud": "aws", "region": "us-west-2"},
    ],
    "services": [
        {
            "name": "orders.prod",
            "port": 8081,
            "routing": {"mode": "weighted", "weights": {"aws-usw2": 1}},
        },
    ],
    "policies": [],
}
# Every write the replace makes: the version claim, the marker, 1 update + 1 create + 1
# cluster delete + 1 service create + 1 service delete + 1 policy delete, marker delete, version.
WRITES = 10


async def seeded(store: RefusingStore) -> ConfigState:
    state = ConfigState(store, parse_config(CONFIG))
    await state.seed(parse_config(CONFIG))
    return state


async def objects(store: MemoryStore) -> dict[str, Any]:
    """What a reader that starts now takes as the config's objects."""
    view = committed_view({r.key: r.value for r in await store.list_prefix("config/")})
    return {key: json.loads(value)["spec"] for key, value in sorted(view.items())}


async def raw_objects(store: MemoryStore) -> dict[str, Any]:
    return {
        r.key: json.loads(r.value)["spec"]
        for kind in KINDS.values()
        for r in await store.list_prefix(kind.prefix)
    }


@pytest.mark.parametrize("failing_write", range(1, WRITES - 1))
async def test_a_store_failure_half_way_leaves_the_old_config_in_force(failing_write: int) -> None:
    store = RefusingStore(MemoryStore(), refuse_from=10**9)
    state = await seeded(store)
    revision = await state.revision()
    old = await raw_objects(store.inner)
    old_effective = await state.effective()
    store.puts, store.refuse_from = 0, failing_write
    with pytest.raises(StoreUnavailableError):
        await state.replace(NEW_OBJECTS, revision)
    assert await raw_objects(store.inner) == old
    assert await store.inner.get(APPLY_KEY) is None
    assert await state.effective() == old_effective
    # ...and the next replace goes through from the revision a reader sees now.
    result = await state.replace(NEW_OBJECTS, await state.revision())
    assert [item.name for item in (await state.effective()).services] == ["orders.prod"]
    assert result.deleted == (
        "clusters/azure-weu",
        "policies/web-to-payments",
        "services/payments.prod",
    )


@pytest.mark.parametrize("undo", ["recover", "restart"])
async def test_a_replace_the_store_could_not_undo_reads_as_the_old_config_until_recovered(
    undo: str,
) -> None:
    store = RefusingStore(MemoryStore(), refuse_from=10**9)
    state = await seeded(store)
    old = await objects(store.inner)
    store.puts, store.refuse_from, store.refuse_count = 0, 4, 10**9  # down for good after 3
    with pytest.raises(StoreUnavailableError):
        await state.replace(NEW_OBJECTS, await state.revision())
    assert await store.inner.get(APPLY_KEY) is not None
    assert await raw_objects(store.inner) != old  # half written...
    assert await objects(store.inner) == old  # ...yet every reader sees the old config
    store.refuse_count = 0  # the store is back
    if undo == "recover":
        assert await state.recover() is True
    else:  # serve starts again: seeding undoes it first
        await ConfigState(store, parse_config(CONFIG)).seed(parse_config(CONFIG))
    assert await raw_objects(store.inner) == old
    assert await store.inner.get(APPLY_KEY) is None


@pytest.mark.parametrize("failing_write", [None, 4, 6])
async def test_a_watcher_through_the_gate_sees_the_old_or_the_new_config_never_a_mix(
    failing_write: int | None,
) -> None:
    store = RefusingStore(MemoryStore(), refuse_from=10**9)
    state = await seeded(store)
    old = await objects(store.inner)
    since = await store.inner.revision()
    store.puts, store.refuse_from = 0, failing_write or 10**9
    try:
        await state.replace(NEW_OBJECTS, await state.revision())
    except StoreUnavailableError:
        assert failing_write is not None
    new = await objects(store.inner)
    seen = dict(old)
    gate = ApplyGate()
    states = []
    watch = store.inner.watch("config/", since_revision=since)
    await store.inner.put("config/~end-of-test", b"")
    async for event in watch:
        if event.key == "config/~end-of-test":
            break
        for released in gate.feed(event):
            if released.kind is ChangeKind.PUT:
                assert released.value is not None
                seen[released.key] = json.loads(released.value)["spec"]
            else:
                seen.pop(released.key, None)
        states.append(dict(seen))
    await watch.aclose()
    assert all(s in (old, new) for s in states)
    assert states[-1] == new
    assert (new == old) == (failing_write is not None)


async def test_replace_rejects_a_stale_revision_and_an_invalid_document() -> None:
    store = RefusingStore(MemoryStore(), refuse_from=10**9)
    state = await seeded(store)
    revision = await state.revision()
    with pytest.raises(ConflictError):
        await state.replace(NEW_OBJECTS, revision - 1)
    bad = {
        **NEW_OBJECTS,
        "services": [
            {"name": "x.prod", "port": 1, "routing": {"mode": "weighted", "weights": {"nope": 1}}}
        ],
    }
    with pytest.raises(InvalidInputError) as caught:
        await state.replace(bad, revision)
    assert caught.value.problems
    assert await state.revision() == revision


def test_a_gate_started_during_a_replace_holds_until_the_marker_goes() -> None:
    def event(kind: ChangeKind, key: str, revision: int) -> ChangeEvent:
        return ChangeEvent(kind, key, b"{}" if kind is ChangeKind.PUT else None, revision)

    gate = ApplyGate(holding=True)
    write = event(ChangeKind.PUT, "config/services/a.prod", 7)
    assert gate.feed(write) == []
    assert gate.feed(event(ChangeKind.DELETE, APPLY_KEY, 8)) == [write]
    later = event(ChangeKind.PUT, "config/services/b.prod", 9)
    assert gate.feed(later) == [later]
