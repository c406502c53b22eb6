"""The admin API application: middlewares, then every route table."""

from __future__ import annotations

from aiohttp import web

from federation.api.admin_log import admin_log_routes
from federation.api.audit import audit_routes
from federation.api.config_api import config_routes
from federation.api.context import CONTEXT, ApiContext
from federation.api.eds import eds_routes
from federation.api.endpoints import endpoint_routes
from federation.api.gateway_config import gateway_config_routes, install_gateway_config
from federation.api.gateway_denials import gateway_denial_routes
from federation.api.middleware import authorization, problem_details, request_context
from federation.api.objects import object_routes
from federation.api.outliers import outlier_routes
from federation.api.policy_check import policy_check_routes
from federation.api.providers import provider_routes
from federation.api.resolve import resolve_routes
from federation.api.routing import Route, register
from federation.api.svid_renewal import renewal_routes
from federation.api.system import freeze_openapi, system_routes
from federation.api.trust import trust_routes
from federation.api.ui import install_ui, ui_routes

MAX_BODY = 1024 * 1024


def api_routes() -> list[Route]:
    """Every route of the API, as the OpenAPI document and the reference list them."""
    return [
        *system_routes(),
        *object_routes(),
        *endpoint_routes(),
        *provider_routes(),
        *resolve_routes(),
        *outlier_routes(),
        *gateway_config_routes(),
        *gateway_denial_routes(),
        *eds_routes(),
        *config_routes(),
        *policy_check_routes(),
        *trust_routes(),
        *renewal_routes(),
        *audit_routes(),
        *admin_log_routes(),
        *ui_routes(),
    ]


def build_app(ctx: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[request_context, problem_details, authorization], client_max_size=MAX_BODY
    )
    app[CONTEXT] = ctx
    register(app, api_routes())
    install_gateway_config(app)
    install_ui(app)
    freeze_openapi(app)
    return app
