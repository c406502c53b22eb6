"""Kept-alive requests per second with Debian's wrk: a Lua ``wrk.resolve`` override sends TCP
to the proxy's port while the URL host stays the SNI (and Host header). wrk 4.1 rejects '_' in
a URL host, so it uses the plain ``<name>.<namespace>.svc.cluster.local`` form."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.gateway.peers import PLAIN_SNI

_RESOLVE_LUA = """
-- TCP goes to the port in WRK_CONNECT_PORT; the URL host is still the SNI and Host header.
wrk.resolve = function(host, service)
  wrk.addrs = wrk.lookup("127.0.0.1", os.getenv("WRK_CONNECT_PORT"))
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


class WrkError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def _millis(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise WrkError(f"cannot read wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse(output: str) -> WrkResult:
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if total is None or p50 is None or p99 is None:
        raise WrkError(f"cannot read wrk's summary from its output:\n{output}")
    seconds = float(total[2]) / (1000 if total[3] == "ms" else 1)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        int(total[1]),
        seconds,
        _millis(p50[1]),
        _millis(p99[1]),
        errors + (int(non2xx[1]) if non2xx else 0),
    )


def keepalive(directory: Path, port: int, connections: int, seconds: float) -> WrkResult:
    script = directory / "resolve.lua"
    script.write_text(_RESOLVE_LUA)
    command = [
        *("wrk", "--latency", "-t1", f"-c{connections}", f"-d{seconds:g}s"),
        *("-s", str(script), f"https://{PLAIN_SNI}:443/"),
    ]
    result = subprocess.run(
        command,
        env={**os.environ, "WRK_CONNECT_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    if result.returncode != 0:
        raise WrkError(f"wrk exited {result.returncode}: {result.stderr.strip()}")
    return parse(result.stdout)
