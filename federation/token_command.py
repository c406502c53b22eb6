"""``meshfed token create``: print a new token once, keep only its hash."""

from __future__ import annotations

import argparse
import secrets
import sys

from federation.audit_log import AuditLog
from federation.config import load_config
from federation.metrics import Metrics
from federation.model import Role
from federation.problems import InvalidInputError
from federation.store import open_store
from federation.tokens import TokenExistsError, TokenRegistry


async def create_token(args: argparse.Namespace) -> int:
    store_url = args.store
    file_tokens = []
    if args.config:
        try:
            config = load_config(args.config)
        except InvalidInputError as exc:
            print(exc, file=sys.stderr)
            return 1
        store_url, file_tokens = config.store, config.api.tokens
    role = Role(args.role)
    name = args.name or f"{role.value}-{secrets.token_hex(3)}"
    store = open_store(store_url)
    try:
        token, _ = await TokenRegistry(store, file_tokens).create(name, role)
        await AuditLog(store, Metrics()).record(
            actor="cli", action="token.create", target=f"tokens/{name}", detail={"role": role.value}
        )
    except TokenExistsError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        await store.close()
    print(token)
    print(f"token {name!r} ({role.value}) created; it is shown only this once", file=sys.stderr)
    return 0
