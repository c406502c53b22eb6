"""What the API handlers need, built once by ``serve`` and reached through the app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from federation.audit_log import AuditLog
from federation.metrics import Metrics
from federation.resources import ConfigState
from federation.routing.outliers import OutlierService
from federation.routing.resolver import Resolver
from federation.store.base import Store
from federation.tokens import Principal, TokenRegistry
from federation.trust.runtime import TrustRuntime


@dataclass(slots=True)
class ApiContext:
    store: Store
    config: ConfigState
    tokens: TokenRegistry
    audit: AuditLog
    metrics: Metrics
    metrics_public: bool = True
    ready: bool = False
    resolver: Resolver | None = None  # None until routing is wired (tests of other parts)
    outliers: OutlierService | None = None
    trust: TrustRuntime | None = None  # None until serve starts the trust service


CONTEXT = web.AppKey("meshfed_context", ApiContext)
PRINCIPAL = web.RequestKey("meshfed_principal", Principal)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def principal(request: web.Request) -> Principal:
    found: Principal = request[PRINCIPAL]
    return found
