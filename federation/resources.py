"""Clusters, services and policies as stored objects: read, validated write, delete.

The store is the source of truth for these three sections; the config file seeds them. A write
is validated by building the whole candidate config and running the same checks as
``meshfed validate``, so the API can never store what the file would reject.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from federation.config import check_config_data
from federation.model import ClusterSpec, MeshfedConfig, PolicySpec, ServiceSpec
from federation.problems import InvalidInputError, Problem
from federation.store.base import ChangeEvent, ChangeKind, ConflictError, Store, StoreError

SEED_KEY = "meta/seed"
# Its store revision is the config revision: every write of clusters, services or policies
# moves it, so a whole-config replace can compare-and-set on the one state it was shown.
CONFIG_VERSION_KEY = "meta/config-version"
# A whole-config replace in flight. It sits under config/ so every watcher sees it in revision
# order with the object writes it brackets; it holds what to restore (see ConfigState.replace).
APPLY_KEY = "config/apply"


@dataclass(frozen=True, slots=True)
class Kind:
    section: str  # the config section and the URL segment: clusters, services, policies
    singular: str
    model: type[BaseModel]

    @property
    def prefix(self) -> str:
        return f"config/{self.section}/"


KINDS = {
    kind.section: kind
    for kind in (
        Kind("clusters", "cluster", ClusterSpec),
        Kind("services", "service", ServiceSpec),
        Kind("policies", "policy", PolicySpec),
    )
}


@dataclass(frozen=True, slots=True)
class StoredObject:
    kind: Kind
    name: str
    spec: dict[str, Any]  # the validated object, as JSON
    revision: int
    origin: str  # "file" or "api"


class PreconditionRequiredError(Exception):
    def __init__(self, kind: Kind, name: str, revision: int) -> None:
        super().__init__(
            f"{kind.singular} {name!r} exists (revision {revision}): send If-Match: "
            f'"{revision}" to replace it'
        )
        self.revision = revision


class NotFoundError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class WriteResult:
    object: StoredObject | None  # None after a delete
    before_revision: int | None


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    before_revision: int
    revision: int
    created: tuple[str, ...]  # "section/name"
    updated: tuple[str, ...]
    deleted: tuple[str, ...]


class ConfigState:
    def __init__(self, store: Store, base: MeshfedConfig) -> None:
        self._store = store
        self._base = base

    async def list(self, kind: Kind) -> list[StoredObject]:
        return [
            self._decode(kind, r.value, r.revision)
            for r in await self._store.list_prefix(kind.prefix)
        ]

    async def get(self, kind: Kind, name: str) -> StoredObject | None:
        record = await self._store.get(kind.prefix + name)
        return None if record is None else self._decode(kind, record.value, record.revision)

    async def effective(self) -> MeshfedConfig:
        """The config in force: the file's global sections and the stored objects."""
        return MeshfedConfig.model_validate(await self._effective_document())

    async def put(
        self, kind: Kind, name: str, body: Any, expect_revision: int | None
    ) -> WriteResult:
        """Create (``expect_revision`` None: the object must not exist) or replace (at exactly
        ``expect_revision``). Raises InvalidInputError, PreconditionRequiredError or
        ConflictError, and writes nothing then."""
        if not isinstance(body, dict):
            raise InvalidInputError([Problem("", "the body must be a JSON object", "send {…}")])
        body = {**body}
        if body.setdefault("name", name) != name:
            raise InvalidInputError(
                [
                    Problem(
                        "name",
                        f"name {body['name']!r} differs from the URL's {name!r}",
                        "make them equal; rename by delete and create",
                    )
                ]
            )
        document = await self._effective_document()
        items = document[kind.section]
        index = next((i for i, item in enumerate(items) if item["name"] == name), len(items))
        items[index : index + 1] = [body]
        self._check(document, kind, index)
        current = await self._store.get(kind.prefix + name)
        if expect_revision is None and current is not None:
            raise PreconditionRequiredError(kind, name, current.revision)
        spec = kind.model.model_validate(body).model_dump(mode="json", by_alias=True)
        value = json.dumps({"spec": spec, "origin": "api"}).encode()
        record = await self._store.put(
            kind.prefix + name, value, expect_revision=expect_revision or 0
        )
        await self._store.put(CONFIG_VERSION_KEY, b"")
        return WriteResult(
            self._decode(kind, record.value, record.revision), current.revision if current else None
        )

    async def delete(self, kind: Kind, name: str, expect_revision: int | None) -> WriteResult:
        current = await self._store.get(kind.prefix + name)
        if current is None:
            raise NotFoundError(f"no {kind.singular} named {name!r}")
        if expect_revision is None:
            raise PreconditionRequiredError(kind, name, current.revision)
        document = await self._effective_document()
        document[kind.section] = [i for i in document[kind.section] if i["name"] != name]
        self._check(document, kind, None)
        await self._store.delete(kind.prefix + name, expect_revision=expect_revision)
        await self._store.put(CONFIG_VERSION_KEY, b"")
        return WriteResult(None, current.revision)

    async def seed(self, config: MeshfedConfig) -> bool:
        """Apply the file's objects when the file's set of objects changed since the last seed;
        objects created through the API survive. Returns True when anything was written."""
        await self.recover()  # a replace that a crash cut short is undone before anything else
        file_objects = {
            section: [o.model_dump(mode="json", by_alias=True) for o in getattr(config, section)]
            for section in KINDS
        }
        digest = hashlib.sha256(json.dumps(file_objects, sort_keys=True).encode()).hexdigest()
        seeded = await self._store.get(SEED_KEY)
        if seeded is not None and json.loads(seeded.value)["sha256"] == digest:
            return False
        merged = await self._effective_document()
        stale: list[tuple[Kind, str]] = []
        for section, kind in KINDS.items():
            wanted = {o["name"]: o for o in file_objects[section]}
            kept = [o for o in await self.list(kind) if o.origin == "api" and o.name not in wanted]
            stale += [
                (kind, o.name)
                for o in await self.list(kind)
                if o.origin == "file" and o.name not in wanted
            ]
            merged[section] = list(wanted.values()) + [o.spec for o in kept]
        _, problems = check_config_data(merged)
        if problems:
            raise InvalidInputError(
                problems, "the config file merged with objects created through the API"
            )
        for section, kind in KINDS.items():
            for spec in file_objects[section]:
                value = json.dumps({"spec": spec, "origin": "file"}).encode()
                await self._store.put(kind.prefix + spec["name"], value)
        for kind, name in stale:
            await self._store.delete(kind.prefix + name)
        await self._store.put(SEED_KEY, json.dumps({"sha256": digest}).encode())
        await self._store.put(CONFIG_VERSION_KEY, b"")
        return True

    async def revision(self) -> int:
        """The config revision: what ``replace`` takes as ``expect_revision``."""
        record = await self._store.get(CONFIG_VERSION_KEY)
        return 0 if record is None else record.revision

    async def replace(self, body: Any, expect_revision: int) -> ReplaceResult:
        """Make the clusters, services and policies exactly the document's, all or nothing.

        The store has no multi-key transaction, so this is a small write-ahead log:
        1. compare-and-set the config version key (a lost race is ConflictError, nothing
           written);
        2. write APPLY_KEY holding every touched key's value before the change;
        3. write the objects, in key order;
        4. delete APPLY_KEY and move the version key again.
        While APPLY_KEY exists, readers take the values it holds for the keys it names
        (``committed_view``; a watcher holds config events until it goes, ``ApplyGate``), so
        the new config appears in one step or not at all. A failed write restores the old
        values; if that fails too (the store is down), APPLY_KEY stays, readers keep the old
        config, and the next replace or start-up (``recover``) restores it.
        Raises InvalidInputError (every problem), ConflictError or StoreError."""
        if not isinstance(body, dict):
            raise InvalidInputError([Problem("", "the body must be a JSON object", "send {…}")])
        document = self._base.model_dump(mode="json", by_alias=True)
        # A missing or misspelt section would silently delete every object of its kind.
        problems = [
            Problem(section, f"'{section}' is required", f"send {section}: [] to remove them all")
            for section in KINDS
            if section not in body
        ] + [
            Problem(key, f"unknown section '{key}'", f"use only {', '.join(document)}")
            for key in body
            if key not in document
        ]
        for section in KINDS:
            document[section] = body.get(section, [])
        config, found = check_config_data(document, env={})
        problems += found
        if config is None or problems:
            raise InvalidInputError(problems)
        await self.recover()
        current = await self.revision()
        if current != expect_revision:
            raise ConflictError(CONFIG_VERSION_KEY, expect_revision, current)
        before = {r.key: r.value for r in await self._store.list_prefix("config/")}
        before.pop(APPLY_KEY, None)
        after = {
            kind.prefix + item.name: json.dumps(
                {"spec": item.model_dump(mode="json", by_alias=True), "origin": "api"}
            ).encode()
            for section, kind in KINDS.items()
            for item in getattr(config, section)
        }
        await self._store.put(CONFIG_VERSION_KEY, b"", expect_revision=expect_revision or 0)
        touched = sorted(before.keys() | after.keys())
        restore = {key: before[key].decode() if key in before else None for key in touched}
        await self._store.put(APPLY_KEY, json.dumps(restore).encode(), expect_revision=0)
        try:
            for key in touched:
                if key not in after:
                    await self._store.delete(key)
                elif before.get(key) != after[key]:
                    await self._store.put(key, after[key])
        except StoreError:
            await self.recover()
            raise
        await self._store.delete(APPLY_KEY)
        revision = (await self._store.put(CONFIG_VERSION_KEY, b"")).revision
        return ReplaceResult(
            expect_revision,
            revision,
            created=tuple(_label(k) for k in sorted(after.keys() - before.keys())),
            updated=tuple(
                _label(k) for k in sorted(after.keys() & before.keys()) if before[k] != after[k]
            ),
            deleted=tuple(_label(k) for k in sorted(before.keys() - after.keys())),
        )

    async def recover(self) -> bool:
        """Undo a replace that stopped half-way; True when there was one."""
        record = await self._store.get(APPLY_KEY)
        if record is None:
            return False
        for key, value in json.loads(record.value).items():
            if value is None:
                await self._store.delete(key)
            else:
                await self._store.put(key, value.encode())
        await self._store.delete(APPLY_KEY, expect_revision=record.revision)
        await self._store.put(CONFIG_VERSION_KEY, b"")
        return True

    async def _effective_document(self) -> dict[str, Any]:
        document = self._base.model_dump(mode="json", by_alias=True)
        # One read of config/ (objects and any APPLY_KEY together) is one consistent view.
        view = committed_view({r.key: r.value for r in await self._store.list_prefix("config/")})
        for section, kind in KINDS.items():
            document[section] = [
                self._decode(kind, value, 0).spec
                for key, value in sorted(view.items())
                if key.startswith(kind.prefix)
            ]
        return document

    @staticmethod
    def _check(document: dict[str, Any], kind: Kind, index: int | None) -> None:
        _, problems = check_config_data(document, env={})
        if problems:
            raise InvalidInputError([_relative(p, kind, index) for p in problems])

    @staticmethod
    def _decode(kind: Kind, value: bytes, revision: int) -> StoredObject:
        entry = json.loads(value)
        return StoredObject(kind, entry["spec"]["name"], entry["spec"], revision, entry["origin"])


def committed_view(values: dict[str, bytes]) -> dict[str, bytes]:
    """The config/ keys as committed: while a replace is in flight (APPLY_KEY present), the
    keys it touches read as they were before it."""
    marker = values.pop(APPLY_KEY, None)
    if marker is None:
        return values
    for key, value in json.loads(marker).items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value.encode()
    return values


class ApplyGate:
    """Feeds config/ change events to a watcher so a whole-config replace lands at once:
    events between APPLY_KEY's put and its delete are held, then released together (a
    rolled-back replace releases its writes and their undoing, which nets to no change)."""

    def __init__(self, *, holding: bool = False) -> None:
        # holding: the watcher starts while a replace is in flight (APPLY_KEY was present).
        self._held: list[ChangeEvent] | None = [] if holding else None

    def feed(self, event: ChangeEvent) -> list[ChangeEvent]:
        if event.key == APPLY_KEY:
            if event.kind is ChangeKind.PUT:
                self._held = self._held or []
                return []
            released, self._held = self._held or [], None
            return released
        if self._held is not None:
            self._held.append(event)
            return []
        return [event]


def _label(key: str) -> str:
    return key.removeprefix("config/")


def _relative(problem: Problem, kind: Kind, index: int | None) -> Problem:
    """Problems inside the written object get paths relative to the request body."""
    own = f"{kind.section}[{index}]"
    if index is None or not problem.path.startswith(own):
        return problem
    rest = problem.path[len(own) :].lstrip(".")
    return Problem(rest, problem.message, problem.hint)


__all__ = [
    "APPLY_KEY",
    "CONFIG_VERSION_KEY",
    "KINDS",
    "ApplyGate",
    "ConfigState",
    "ConflictError",
    "Kind",
    "NotFoundError",
    "PreconditionRequiredError",
    "ReplaceResult",
    "StoredObject",
    "WriteResult",
    "committed_view",
]
