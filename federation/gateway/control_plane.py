"""The gateway's client of the meshfed API: route config by long-poll, outlier and denial
reports."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import aiohttp
from pydantic import ValidationError

from federation.gateway.route_config import GatewayConfig

log = logging.getLogger("meshfed.gateway.control_plane")

ReportedOutcome = Literal["connect-failure", "success"]
DenialKind = Literal["denied", "peer_rejected"]
# The server holds a long-poll up to its timeout; this much more covers the answer's trip.
_POLL_SLACK = 10.0
_REPORT_TIMEOUT = 5.0
# An overflow entry names at most this many of the callers it folds.
MAX_SAMPLE_PEER_IDS = 5


@dataclass(frozen=True, slots=True)
class ReportedDenial:
    """Callers refused alike (same caller, service, kind, policy and reason) in one batch, or,
    with ``distinct_peers`` set, the overflow of many distinct callers refused alike."""

    peer_id: str | None  # None when the caller's SVID did not verify, and on overflow entries
    service: str
    kind: DenialKind
    policy: str | None
    reason: str
    count: int
    first_seen: float  # wall-clock seconds since the epoch
    last_seen: float
    distinct_peers: int | None = None
    sample_peer_ids: tuple[str, ...] = ()


class ControlPlaneError(Exception):
    """The API could not be reached or answered something this gateway cannot use."""


class ControlPlane:
    def __init__(self, session: aiohttp.ClientSession, server: str, token: str) -> None:
        self._session = session
        self._server = server.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}

    async def gateway_config(
        self, cluster: str, version: int | None, wait: float
    ) -> GatewayConfig | None:
        """The cluster's routes; None when ``version`` is still current after ``wait`` seconds."""
        params = {"cluster": cluster, "timeout": f"{wait:g}s"}
        if version is not None:
            params["version"] = str(version)
        url = f"{self._server}/v1/gateway/config"
        timeout = aiohttp.ClientTimeout(total=wait + _POLL_SLACK)
        try:
            async with self._session.get(
                url, params=params, headers=self._headers, timeout=timeout
            ) as response:
                if response.status == 304:
                    return None
                body = await response.read()
                if response.status != 200:
                    raise ControlPlaneError(
                        f"GET {url}?cluster={cluster} answered {response.status}: "
                        f"{body[:500].decode(errors='replace')}"
                    )
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ControlPlaneError(f"GET {url} failed: {error!r}; is --server right?") from error
        try:
            return GatewayConfig.model_validate_json(body)
        except ValidationError as error:
            raise ControlPlaneError(
                f"GET {url} answered a config this gateway cannot read: {error}"
            ) from error

    async def report_outlier(
        self, service: str, endpoint: str, outcome: ReportedOutcome, count: int
    ) -> bool:
        """True when the report was taken; False when the API refused it (unknown endpoint, say).
        Raises ControlPlaneError when the API cannot be reached."""
        body = {"service": service, "endpoint": endpoint, "outcome": outcome, "count": count}
        return await self._report("/v1/outliers", body)

    async def report_denials(self, cluster: str, denials: Sequence[ReportedDenial]) -> bool:
        """True when the control plane audited the denials; False when it refused them (an
        unknown cluster, a token below operator). Raises ControlPlaneError when it is down."""
        body = {"cluster": cluster, "denials": [asdict(denial) for denial in denials]}
        return await self._report("/v1/gateway/denials", body)

    async def _report(self, path: str, body: dict[str, Any]) -> bool:
        url = f"{self._server}{path}"
        try:
            async with self._session.post(
                url,
                json=body,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=_REPORT_TIMEOUT),
            ) as response:
                await response.read()
                if response.status >= 500:
                    raise ControlPlaneError(f"POST {url} answered {response.status}")
                return response.status < 300
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ControlPlaneError(f"POST {url} failed: {error!r}") from error


async def follow_routes(
    control_plane: ControlPlane,
    cluster: str,
    apply: Callable[[GatewayConfig], None],
    *,
    version: int | None = None,
    wait: float = 30.0,
    retry_delay: float = 1.0,
    max_retry_delay: float = 30.0,
) -> None:
    """Apply every new route config for ``cluster`` until cancelled. While the API is down the
    last config stays in force; attempts back off up to ``max_retry_delay``."""
    delay = retry_delay
    while True:
        try:
            config = await control_plane.gateway_config(cluster, version, wait)
        except ControlPlaneError as error:
            log.warning(
                "route config unavailable; keeping version %s", version, extra={"error": str(error)}
            )
            await asyncio.sleep(delay)
            delay = min(max_retry_delay, delay * 2)
            continue
        delay = retry_delay
        if config is not None:
            apply(config)
            version = config.version
