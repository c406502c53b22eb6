"""Answers "where should this client's requests for this service go?" in the DESIGN.md resolve
shape, for the API and for ``meshfed resolve --config`` alike."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from federation.routing.live import LiveRouting
from federation.scheduler import ClientPoint, Resolution
from geo import ClientLocation, GeoIPDatabase, InvalidAddressError, Locator, UnknownRegionError


class ResolveInputError(ValueError):
    """The client was not named in a way the resolver can use."""

    def __init__(self, parameter: str, message: str, hint: str) -> None:
        super().__init__(f"{parameter}: {message} ({hint})")
        self.parameter = parameter
        self.message = message
        self.hint = hint


class Resolver:
    def __init__(
        self,
        routing: LiveRouting,
        default_location: str,
        database: GeoIPDatabase | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._routing = routing
        self._database = database
        self._locator = Locator(routing.catalog, database, default_location)
        self._rng = rng or random.Random()
        self._clock = clock

    @property
    def routing(self) -> LiveRouting:
        return self._routing

    async def locate(self, client_ip: str | None, client_region: str | None) -> ClientLocation:
        if (client_ip is None) == (client_region is None):
            raise ResolveInputError(
                "client_ip" if client_ip is not None else "client",
                "name the client by exactly one of client_ip and client_region",
                "send client_ip=203.0.113.7 or client_region=aws:us-east-1, not both",
            )
        if client_region is not None:
            try:
                return self._locator.locate_region(client_region)
            except UnknownRegionError as exc:
                raise ResolveInputError("client_region", str(exc), "write CLOUD:REGION") from exc
        assert client_ip is not None
        try:
            if self._database is None:
                return self._locator.locate_ip(client_ip)
            # GeoIP2 lookups read a memory map and may touch the disk.
            return await asyncio.to_thread(self._locator.locate_ip, client_ip)
        except InvalidAddressError as exc:
            raise ResolveInputError("client_ip", str(exc), "fix client_ip") from exc

    def _health_reasons(self, resolution: Resolution) -> list[str]:
        """Why each endpoint that takes no traffic is out, from its stored health."""
        now = self._clock()
        lines = []
        for level in resolution.levels:
            for cluster in level.clusters:
                for endpoint in cluster.endpoints:
                    if endpoint.available:
                        continue
                    record = self._routing.health(endpoint.key)
                    where = f"{endpoint.address}:{endpoint.port} in {cluster.name}"
                    if record is not None and record.ejected(now):
                        left = record.ejected_until - now if record.ejected_until else 0.0
                        why = f"{record.ejection_detail}; back in {left:.1f}s"
                        lines.append(f"{where} is ejected by outlier detection: {why}")
                    elif record is not None and record.healthy is False:
                        lines.append(f"{where} fails active checks: {record.check_detail}")
                    else:
                        lines.append(f"{where} is reported unhealthy by its source")
        return lines

    async def resolve(
        self,
        service: str,
        *,
        client_ip: str | None = None,
        client_region: str | None = None,
        headers: Mapping[str, str] | None = None,
        explain: bool = False,
    ) -> dict[str, Any]:
        """The resolve JSON. Raises ResolveInputError, or the scheduler's UnknownServiceError."""
        where = await self.locate(client_ip, client_region)
        client = ClientPoint(where.region_key, where.continent, where.lat, where.lon)
        resolution = self._routing.scheduler.resolve(service, client, headers)
        body = resolution.to_dict(self._rng)
        lines = [where.description, *body["explain"], *self._health_reasons(resolution)]
        return {
            "service": body["service"],
            "version": body["version"],
            "client": {
                "ip": client_ip,
                "location": {"lat": where.lat, "lon": where.lon, "country": where.country},
                "region": where.region_key,
                "source": where.source,
            },
            "levels": body["levels"],
            "pick": body["pick"],
            "explain": lines if explain else [],
        }
