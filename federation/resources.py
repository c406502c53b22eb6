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
from federation.store.base import ConflictError, Store

SEED_KEY = "meta/seed"


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
        return WriteResult(None, current.revision)

    async def seed(self, config: MeshfedConfig) -> bool:
        """Apply the file's objects when the file's set of objects changed since the last seed;
        objects created through the API survive. Returns True when anything was written."""
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
        return True

    async def _effective_document(self) -> dict[str, Any]:
        document = self._base.model_dump(mode="json", by_alias=True)
        for section, kind in KINDS.items():
            document[section] = [o.spec for o in await self.list(kind)]
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


def _relative(problem: Problem, kind: Kind, index: int | None) -> Problem:
    """Problems inside the written object get paths relative to the request body."""
    own = f"{kind.section}[{index}]"
    if index is None or not problem.path.startswith(own):
        return problem
    rest = problem.path[len(own) :].lstrip(".")
    return Problem(rest, problem.message, problem.hint)


__all__ = [
    "KINDS",
    "ConfigState",
    "ConflictError",
    "Kind",
    "NotFoundError",
    "PreconditionRequiredError",
    "StoredObject",
    "WriteResult",
]
