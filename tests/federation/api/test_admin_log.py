"""Request log lines name the request, the principal and its source; the log level changes at
run time through the API, at once and audited."""

from __future__ import annotations

import io
import json
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from federation.api.app import build_app
from federation.logs import JsonFormatter
from federation.model import Role
from tests.federation.api.conftest import TOKENS, Api
from tests.federation.api.test_auth_matrix import bare_context
from tests.trust.conftest import ACME, bundle_of, issue_workload
from trust.bundle import BundleSet
from trust.ca import create_authority
from trust.tls import client_context, server_context

LOGGER = "meshfed.test-runtime-level"
WEB_ID = f"spiffe://{ACME}/ns/web/sa/frontend"


@pytest.fixture
def api_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("meshfed.api")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(saved)


@pytest.fixture
def scratch_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.WARNING)
    yield logger
    logger.setLevel(logging.NOTSET)


def request_lines(stream: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["message"] == "request"]


async def test_every_request_line_carries_request_id_principal_and_source(
    api: Api, api_log: io.StringIO
) -> None:
    await api.call("GET", "/v1/services", role=Role.VIEWER, headers={"X-Request-Id": "rq-1"})
    await api.call("GET", "/v1/clusters", role=Role.OPERATOR)
    await api.call("GET", "/healthz", role=None)
    await api.call("GET", "/v1/clusters", role=None)
    lines = request_lines(api_log)
    assert [(line["path"], line["principal"], line["source"]) for line in lines] == [
        ("/v1/services", "viewer-user", "viewer-user"),
        ("/v1/clusters", "operator-user", "operator-user"),
        ("/healthz", None, None),
        ("/v1/clusters", None, None),
    ]
    assert lines[0]["request_id"] == "rq-1"
    assert all(isinstance(line["request_id"], str) and line["request_id"] for line in lines)


async def test_log_level_change_applies_at_once_and_is_audited(
    api: Api, scratch_logger: logging.Logger
) -> None:
    status, body, _ = await api.call("GET", f"/v1/admin/log-level?logger={LOGGER}")
    assert (status, body) == (200, {"level": "warning", "logger": LOGGER})

    status, body, _ = await api.call(
        "PUT", "/v1/admin/log-level", json={"level": "debug", "logger": LOGGER}
    )
    assert (status, body) == (200, {"level": "debug", "logger": LOGGER})
    assert scratch_logger.isEnabledFor(logging.DEBUG)
    status, body, _ = await api.call("GET", f"/v1/admin/log-level?logger={LOGGER}")
    assert body["level"] == "debug"

    records = await api.running.context.audit.read()
    change = records[-1]
    assert (change.actor, change.action, change.target) == (
        "admin-user",
        "log_level.set",
        f"logger/{LOGGER}",
    )
    assert change.detail == {"from": "warning", "to": "debug"}


async def test_log_level_without_a_logger_sets_the_root_level(api: Api) -> None:
    root = logging.getLogger()
    saved = root.level
    try:
        status, body, _ = await api.call("PUT", "/v1/admin/log-level", json={"level": "error"})
        assert (status, body) == (200, {"level": "error", "logger": None})
        assert root.level == logging.ERROR
    finally:
        root.setLevel(saved)


@pytest.mark.parametrize(
    "body",
    [{"level": "verbose"}, {"level": "debug", "logger": "no spaces allowed"}, {}],
)
async def test_log_level_refuses_what_it_cannot_apply(
    api: Api, scratch_logger: logging.Logger, body: dict[str, object]
) -> None:
    status, answer, response = await api.call("PUT", "/v1/admin/log-level", json=body)
    assert status == 400
    assert response.content_type == "application/problem+json"
    assert answer["errors"]
    assert scratch_logger.level == logging.WARNING


async def test_log_level_is_for_admins_only(api: Api) -> None:
    status, _, _ = await api.call(
        "PUT", "/v1/admin/log-level", role=Role.OPERATOR, json={"level": "debug"}
    )
    assert status == 403


@pytest.fixture
async def mtls_api() -> AsyncIterator[tuple[str, ssl.SSLContext]]:
    """The admin app behind mutual TLS with SVIDs, and a client context holding web's SVID."""
    now = datetime.now(UTC)
    ca = create_authority(ACME, now - timedelta(days=1))
    bundles = BundleSet((bundle_of(ca),))
    server = issue_workload(ca, f"spiffe://{ACME}/meshfed/api", now)
    client = issue_workload(ca, WEB_ID, now)
    ctx = bare_context()
    runner = web.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner,
        "127.0.0.1",
        0,
        ssl_context=server_context(server.svid.chain_pem, server.private_key, bundles),
    )
    await site.start()
    try:
        yield (
            f"https://127.0.0.1:{runner.addresses[0][1]}",
            client_context(client.svid.chain_pem, client.private_key, bundles),
        )
    finally:
        await runner.cleanup()
        await ctx.store.close()


async def test_an_mtls_caller_is_logged_by_its_spiffe_id(
    mtls_api: tuple[str, ssl.SSLContext], api_log: io.StringIO
) -> None:
    url, client_tls = mtls_api
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(url + "/healthz", ssl=client_tls) as response:
            assert response.status == 200
        headers = {"Authorization": f"Bearer {TOKENS[Role.VIEWER]}"}
        async with session.get(url + "/v1/services", ssl=client_tls, headers=headers) as response:
            assert response.status == 200
    lines = request_lines(api_log)
    assert [(line["path"], line["principal"], line["source"]) for line in lines] == [
        ("/healthz", None, WEB_ID),
        ("/v1/services", "viewer-user", WEB_ID),
    ]
