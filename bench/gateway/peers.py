"""The processes under test, each in the foreground on free 127.0.0.1 ports with one worker:
an nginx TLS backend, nginx ``stream`` with ssl_preread, HAProxy ``mode tcp`` and
``meshfed gateway --mode passthrough``. Configs live in a temp dir; nothing system-wide."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.gateway.install import STREAM_MODULE

SERVICE = "bench.prod"
SERVICE_PORT = 8443
SNI = f"outbound_.{SERVICE_PORT}_._.{SERVICE}.svc.cluster.local"
# wrk's URL parser rejects '_' in a host, so wrk sends the plain host form meshfed also routes.
PLAIN_SNI = f"{SERVICE}.svc.cluster.local"
BIG_PATH = "/1m"
MIB = 1 << 20
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class PeerStartError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    port: int
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_identity(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the SNI the paths route; the client trusts it alone."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVICE)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(SNI), x509.DNSName(PLAIN_SNI)]),
            critical=False,
        )
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


def _nginx_main(directory: Path, name: str) -> str:
    # `user root` keeps the worker able to read the 0700 temp dir when the bench runs as root.
    return f"""
daemon off;
master_process on;
worker_processes 1;
user root;
pid {directory / name}.pid;
error_log {directory / name}.err warn;
events {{ worker_connections 4096; }}
"""


def nginx_backend_config(directory: Path, port: int, cert: Path, key: Path) -> Path:
    (directory / "www").mkdir()
    (directory / "www" / BIG_PATH.lstrip("/")).write_bytes(b"x" * MIB)
    path = directory / "backend.conf"
    # Tickets and the session cache off: every new connection is a full TLS 1.3 handshake.
    path.write_text(
        _nginx_main(directory, "backend")
        + f"""
http {{
  access_log off;
  client_body_temp_path {directory}/tmp-body;
  proxy_temp_path {directory}/tmp-proxy;
  fastcgi_temp_path {directory}/tmp-fcgi;
  uwsgi_temp_path {directory}/tmp-uwsgi;
  scgi_temp_path {directory}/tmp-scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets off;
    ssl_session_cache off;
    root {directory / "www"};
    location = / {{ default_type text/plain; return 200 "ok\\n"; }}
  }}
}}
"""
    )
    return path


def nginx_stream_config(directory: Path, port: int, backend: int) -> Path:
    path = directory / "stream.conf"
    path.write_text(
        f"load_module {STREAM_MODULE};\n"
        + _nginx_main(directory, "stream")
        + f"""
stream {{
  map $ssl_preread_server_name $upstream {{
    {SNI} 127.0.0.1:{backend};
    {PLAIN_SNI} 127.0.0.1:{backend};
    default 127.0.0.1:1;
  }}
  server {{
    listen 127.0.0.1:{port};
    ssl_preread on;
    proxy_pass $upstream;
  }}
}}
"""
    )
    return path


def haproxy_config(directory: Path, port: int, backend: int) -> Path:
    path = directory / "haproxy.cfg"
    path.write_text(
        f"""
global
  nbthread 1
  maxconn 8192
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend sni
  bind 127.0.0.1:{port}
  tcp-request inspect-delay 5s
  tcp-request content accept if {{ req.ssl_hello_type 1 }}
  use_backend mesh if {{ req.ssl_sni -i {SNI} {PLAIN_SNI} }}
backend mesh
  server s1 127.0.0.1:{backend}
"""
    )
    return path


def meshfed_config(directory: Path, backend: int) -> Path:
    path = directory / "meshfed.yaml"
    path.write_text(
        f"""
federation: {{name: bench, trust_domain: bench.mesh}}
store: memory://
clusters:
  - {{name: aws-use1, cloud: aws, region: us-east-1}}
providers:
  - name: local
    kind: static
    endpoints:
      - {{cluster: aws-use1, service: {SERVICE}, address: 127.0.0.1, port: {backend}}}
services:
  - {{name: {SERVICE}, port: {SERVICE_PORT}}}
"""
    )
    return path


def log_tail(log: Path, lines: int = 5) -> str:
    """The last lines of the processes' log; the temp dir holding it goes with the run."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_listening(process: subprocess.Popen[bytes], port: int, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PeerStartError(
                f"{what} exited with {process.returncode} while starting:\n{log_tail(log)}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise PeerStartError(
        f"{what} did not listen on 127.0.0.1:{port} in {START_TIMEOUT}s:\n{log_tail(log)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start(stack: ExitStack, name: str, command: list[str], port: int, log: Path) -> Peer:
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)
    stack.callback(_stop, process)
    _wait_listening(process, port, name, log)
    return Peer(name, port, process.pid)


def start_all(stack: ExitStack, directory: Path) -> tuple[Peer, list[Peer]]:
    """The backend, then the three proxies in front of it; ``stack`` stops every one."""
    cert, key = write_identity(directory)
    log = directory / "peers.log"
    backend_port = free_port()
    nginx = ["nginx", "-p", str(directory), "-e", str(directory / "nginx.err"), "-c"]
    backend_config = nginx_backend_config(directory, backend_port, cert, key)
    backend = start(stack, "backend", [*nginx, str(backend_config)], backend_port, log)
    ports = {name: free_port() for name in ("nginx", "haproxy", "meshfed", "python_floor")}
    commands = {
        "nginx": [*nginx, str(nginx_stream_config(directory, ports["nginx"], backend_port))],
        "haproxy": [
            "haproxy",
            "-db",
            "-f",
            str(haproxy_config(directory, ports["haproxy"], backend_port)),
        ],
        "meshfed": [
            *(sys.executable, "-m", "federation.cli", "gateway", "--mode", "passthrough"),
            *("--config", str(meshfed_config(directory, backend_port)), "--cluster", "aws-use1"),
            *("--listen", f"127.0.0.1:{ports['meshfed']}", "--access-log", os.devnull),
            *("--log-level", "warning"),
        ],
        "python_floor": [
            *(sys.executable, "-m", "bench.gateway.bare_relay"),
            *(str(ports["python_floor"]), str(backend_port)),
        ],
    }
    proxies = [start(stack, name, command, ports[name], log) for name, command in commands.items()]
    return backend, proxies
