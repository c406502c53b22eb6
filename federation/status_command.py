"""``meshfed status``: one screen of a running federation, read through its admin API."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from rich.console import Group
from rich.table import Table
from rich.text import Text

REQUEST_TIMEOUT_SECONDS = 10.0


class StatusCommandError(Exception):
    """The server could not be asked, or refused to answer."""


@dataclass(frozen=True, slots=True)
class StatusReport:
    summary: dict[str, Any]
    services: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    trust: dict[str, Any] | None  # None: the federation has no CA yet


async def _get(session: aiohttp.ClientSession, server: str, path: str) -> dict[str, Any]:
    url = server.rstrip("/") + path
    try:
        async with session.get(url) as response:
            body: dict[str, Any] = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
        raise StatusCommandError(
            f"could not ask {url}: {exc or type(exc).__name__}; check --server and that "
            "meshfed serve is running there"
        ) from exc
    if status != 200:
        raise StatusCommandError(f"{url} answered {status}: {body.get('detail', body)}")
    return body


async def fetch_status(server: str, token: str | None) -> StatusReport:
    if not token:
        raise StatusCommandError(
            "no API token: pass --token or set MESHFED_TOKEN (create one with "
            "`meshfed token create --role viewer`)"
        )
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        try:
            async with asyncio.TaskGroup() as group:
                summary = group.create_task(_get(session, server, "/v1/ui/summary"))
                services = group.create_task(_get(session, server, "/v1/services"))
                providers = group.create_task(_get(session, server, "/v1/providers"))
        except* StatusCommandError as failed:
            # All three asked the same server: one message says what is wrong.
            raise failed.exceptions[0] from None
        trust = None
        if summary.result()["trust_initialized"]:
            trust = await _get(session, server, "/v1/trust/status")
    return StatusReport(
        summary.result(), services.result()["items"], providers.result()["items"], trust
    )


def _health(healthy: int, total: int) -> Text:
    if total == 0:
        return Text("0/0", style="dim")
    style = "green" if healthy == total else "yellow" if healthy else "red"
    return Text(f"{healthy}/{total}", style=style)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    return f"{seconds / 60:.0f}m ago" if seconds < 5400 else f"{seconds / 3600:.0f}h ago"


def _expiry(iso: str, now: datetime) -> Text:
    days = (datetime.fromisoformat(iso) - now).total_seconds() / 86400
    style = "red" if days < 0 else "yellow" if days < 7 else "green"
    return Text(f"{iso[:16].replace('T', ' ')} ({days:.0f}d)", style=style)


def _clusters(summary: dict[str, Any]) -> Table:
    table = Table(title="Clusters", title_justify="left")
    for column in ("cluster", "region", "healthy"):
        table.add_column(column)
    for c in summary["clusters"]:
        table.add_row(c["name"], f"{c['cloud']}:{c['region']}", _health(c["healthy"], c["total"]))
    return table


def _services(services: list[dict[str, Any]]) -> Table:
    table = Table(title="Services", title_justify="left")
    for column in ("service", "port", "routing"):
        table.add_column(column)
    for s in services:
        table.add_row(s["name"], str(s["port"]), s.get("routing", {}).get("mode", "geo"))
    return table


def _providers(providers: list[dict[str, Any]], now: float) -> Table:
    table = Table(title="Providers", title_justify="left")
    for column in ("provider", "cloud", "endpoints", "last sync", "state", "last error"):
        table.add_column(column)
    for p in providers:
        since = None if p["last_success"] is None else now - p["last_success"]
        if p["withdrawn"]:
            state = Text("withdrawn", style="red")
        elif p["stale"]:
            state = Text(f"stale {p['staleness_seconds']:.0f}s", style="yellow")
        else:
            state = Text("fresh", style="green")
        table.add_row(
            p["name"], p["cloud"], str(p["endpoints"]), _ago(since), state, p["last_error"] or ""
        )
    return table


def _trust(trust: dict[str, Any] | None, now: datetime) -> Table | Text:
    if trust is None:
        return Text("Trust: no CA yet (run `meshfed trust init`)", style="dim")
    table = Table(title="Trust", title_justify="left")
    for column in ("trust domain", "phase", "bundle", "root expires", "intermediate expires"):
        table.add_column(column)
    for d in trust["trust_domains"]:
        table.add_row(
            d["trust_domain"],
            d["phase"],
            f"#{d['bundle_sequence']}",
            _expiry(d["root_expires_at"], now),
            _expiry(d["intermediate_expires_at"], now),
        )
    for f in trust.get("foreign", []):
        table.add_row(f["trust_domain"], f"foreign: {f['status']}", "", "", "")
    return table


def render(report: StatusReport, now: datetime) -> Group:
    return Group(
        _clusters(report.summary),
        _services(report.services),
        _providers(report.providers, now.timestamp()),
        _trust(report.trust, now),
    )
