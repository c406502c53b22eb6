"""The soak's processes: a TLS echo backend, ``meshfed serve`` and ``meshfed gateway
--mode passthrough`` following it, all on 127.0.0.1, plus what /proc says about each."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVICE = "payments.prod"
SNI = f"outbound_.8080_._.{SERVICE}.svc.cluster.local"
TOKEN = "soak-admin-token"
START_TIMEOUT = 30.0


class SoakStartError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ProcessSample:
    rss_kib: int
    open_fds: int


def sample(pid: int) -> ProcessSample:
    """Resident set size and open file descriptors of ``pid``, from /proc (Linux only)."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return ProcessSample(rss, len(os.listdir(f"/proc/{pid}/fd")))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_backend_identity(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the SNI names the gateway routes; clients trust it alone."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVICE)])
    now = datetime.now(UTC)
    names = [x509.DNSName(SNI), x509.DNSName(f"{SERVICE}.svc.cluster.local")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "backend.crt", directory / "backend.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def write_config(directory: Path, api_port: int, backend_port: int) -> Path:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    path = directory / "meshfed.yaml"
    path.write_text(
        f"""
federation: {{name: soak, trust_domain: soak.mesh}}
store: sqlite:///{directory / "state.db"}
api:
  listen: 127.0.0.1:{api_port}
  tokens: [{{name: soak, role: admin, sha256: "{digest}"}}]
clusters:
  - {{name: aws-use1, cloud: aws, region: us-east-1}}
  - {{name: gcp-euw1, cloud: gcp, region: europe-west1}}
providers:
  - name: local
    kind: static
    endpoints:
      - {{cluster: aws-use1, service: {SERVICE}, address: 127.0.0.1, port: {backend_port}}}
services:
  - {{name: {SERVICE}, port: 8080}}
trust: {{kek_file: {directory / "kek"}, refresh_hint: 5s}}
"""
    )
    return path


@dataclass
class SoakProcesses:
    api_url: str
    gateway: tuple[str, int]
    backend_cert: Path
    serve_pid: int
    gateway_pid: int


async def _spawn(stack: AsyncExitStack, *args: str, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=sink
        )

    async def stop() -> None:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()

    stack.push_async_callback(stop)
    return process


async def _first_line(process: asyncio.subprocess.Process, what: str) -> bytes:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
    except TimeoutError:
        raise SoakStartError(f"{what} printed nothing in {START_TIMEOUT}s") from None
    if not line:
        raise SoakStartError(f"{what} exited while starting (exit {await process.wait()})")
    return line


async def _wait_ready(url: str) -> None:
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        try:
            _, writer = await asyncio.open_connection(*url.removeprefix("http://").split(":"))
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SoakStartError(f"meshfed serve did not listen on {url} in {START_TIMEOUT}s")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass  # keep the pipe empty so a chatty process never blocks on it


@asynccontextmanager
async def soak_processes(directory: Path) -> AsyncIterator[SoakProcesses]:
    cert, key = write_backend_identity(directory)
    logs = directory / "processes.log"
    async with AsyncExitStack() as stack, asyncio.TaskGroup() as drains:
        echo = await _spawn(
            stack, "-m", "bench.soak.echo", "--cert", str(cert), "--key", str(key), log=logs
        )
        backend_port = int(await _first_line(echo, "the echo backend"))
        api_port = free_port()
        config = write_config(directory, api_port, backend_port)
        init = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "federation.cli",
            "trust",
            "init",
            "--config",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        if await init.wait() != 0:
            raise SoakStartError(f"meshfed trust init failed (exit {init.returncode})")
        serve = await _spawn(
            stack, "-m", "federation.cli", "serve", "--config", str(config), log=logs
        )
        api_url = f"http://127.0.0.1:{api_port}"
        await _wait_ready(api_url)
        gateway = await _spawn(
            stack,
            *("-m", "federation.cli", "gateway", "--config", str(config), "--cluster", "aws-use1"),
            *("--listen", "127.0.0.1:0", "--server", api_url, "--token", TOKEN),
            *("--access-log", os.devnull),
            log=logs,
        )
        address = await _gateway_address(gateway, logs)
        for process in (echo, serve, gateway):
            assert process.stdout is not None
            drains.create_task(_drain(process.stdout))
        yield SoakProcesses(api_url, address, cert, serve.pid, gateway.pid)
        for process in (echo, serve, gateway):
            process.terminate()


async def _gateway_address(gateway: asyncio.subprocess.Process, logs: Path) -> tuple[str, int]:
    # The gateway reports the port it bound (--listen 127.0.0.1:0) only in its log.
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        text = await asyncio.to_thread(logs.read_text, errors="replace")
        for line in text.splitlines():
            if line.startswith("{") and '"gateway listening"' in line:
                host, _, port = json.loads(line)["address"].rpartition(":")
                return host, int(port)
        if gateway.returncode is not None:
            raise SoakStartError(f"meshfed gateway exited; see {logs}")
        await asyncio.sleep(0.1)
    raise SoakStartError(f"meshfed gateway did not report its address; see {logs}")
