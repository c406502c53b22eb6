"""A real redis-server on a free loopback port, for tests that need Redis.

Use it from a conftest::

    from tests.support.redis_server import redis_server_fixture
    redis_server = redis_server_fixture()              # session-wide, fresh data dir
    redis_outage_server = redis_server_fixture(scope="function", name="redis_outage_server")

The server keeps its port across stop()/start(), so a client's URL stays valid through an
outage. It never touches a system Redis on 6379.
"""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest

START_TIMEOUT = 10.0
PORT_ATTEMPTS = 3
UNKNOWN_PID = -1
STOP_TIMEOUT = 5.0


class RedisServerMissingError(RuntimeError):
    pass


class RedisServerStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_binary(name: str = "redis-server") -> str:
    path = shutil.which(name)
    if path is None:
        raise RedisServerMissingError(
            f"{name} is not on PATH: `make test` installs it (scripts/ensure-test-deps.sh), "
            f"or install it yourself (Debian/Ubuntu: sudo apt-get install {name})"
        )
    return path


@dataclass(frozen=True, slots=True)
class RedisTLS:
    """PEM files for a TLS-only server; clients are not asked for certificates."""

    cert_file: Path
    key_file: Path
    ca_file: Path


class RedisServer:
    def __init__(
        self,
        *,
        persistence: bool = False,
        password: str | None = None,
        tls: RedisTLS | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._binary = redis_binary()
        self._dir = Path(tempfile.mkdtemp(prefix="meshfed-redis-"))
        self._persistence = persistence
        self._password = password
        self._tls = tls
        self._extra_args = extra_args
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False

    @property
    def url(self) -> str:
        """``rediss://…?ssl_ca_certs=CA`` for a TLS server, so redis-py trusts its certificate."""
        auth = f":{self._password}@" if self._password else ""
        if self._tls is None:
            return f"redis://{auth}127.0.0.1:{self.port}/0"
        return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self._tls.ca_file}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        if self._tls is None:
            args = [self._binary, "--port", str(self.port)]
        else:
            args = [self._binary, "--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self._tls.cert_file)]
            args += ["--tls-key-file", str(self._tls.key_file)]
            args += ["--tls-ca-cert-file", str(self._tls.ca_file), "--tls-auth-clients", "no"]
        args += ["--bind", "127.0.0.1", "--dir", str(self._dir), "--logfile", "redis.log"]
        args += ["--protected-mode", "no"]
        if self._persistence:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--save", "", "--appendonly", "no"]
        if self._password:
            args += ["--requirepass", self._password]
        return [*args, *self._extra_args]

    def start(self) -> None:
        if self.running:
            return
        for _ in range(PORT_ATTEMPTS):
            if self._start_once():
                self._started = True
                return
            # Another test run on this machine took the "free" port first; its server, not
            # ours, answered. Before any client has the URL, another port will do.
            if self._started:
                break
            self.port = free_port()
        raise RedisServerStartError(self._failure("found another redis-server on its port"))

    def _start_once(self) -> bool:
        """True once this process serves the port; False when another process does."""
        process = self._process = subprocess.Popen(
            self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                if self._answers_ping() is not None:
                    self._process = None
                    return False
                raise RedisServerStartError(self._failure("exited while starting"))
            server_pid = self._answers_ping()
            if server_pid is not None:
                if server_pid in (process.pid, UNKNOWN_PID):
                    return True
                self.kill()
                return False
            time.sleep(0.02)
        self.kill()
        raise RedisServerStartError(self._failure(f"did not answer PING in {START_TIMEOUT}s"))

    def _failure(self, what: str) -> str:
        log = self._dir / "redis.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        return f"redis-server on 127.0.0.1:{self.port} {what}; its log ends:\n{tail}"

    def _answers_ping(self) -> int | None:
        """The pid of the server answering on the port (UNKNOWN_PID behind a password), or
        None when nothing answers."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                if self._tls is None:
                    return _server_pid(raw)
                context = ssl.create_default_context(cafile=self._tls.ca_file)
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    return _server_pid(tls)
        except OSError:
            return None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def freeze(self) -> None:
        """SIGSTOP: the port stays open but nothing answers, like a hung server."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the server dies without saving anything."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def _server_pid(sock: socket.socket) -> int | None:
    """The pid INFO reports once PING answers PONG; None while the server is not ready (still
    loading its data, say)."""
    sock.sendall(b"PING\r\n")
    pong = sock.recv(64)
    if pong.startswith(b"-NOAUTH"):
        # With requirepass the server proves it is serving, not whose it is.
        return UNKNOWN_PID
    if not pong.startswith(b"+PONG"):
        return None
    sock.sendall(b"INFO server\r\n")
    reply = b""
    while not (tail := reply.partition(b"process_id:")[2]) or b"\r\n" not in tail:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        reply += chunk
    return int(tail.split(b"\r\n", 1)[0])


class RedisSentinel(RedisServer):
    """A Sentinel watching ``master`` as ``service``; its ``url`` is the store's Sentinel URL."""

    def __init__(self, master: RedisServer, *, service: str = "mymaster") -> None:
        super().__init__()
        self.master = master
        self.service = service

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/{self.service}/0"

    def _command(self) -> list[str]:
        config = self._dir / "sentinel.conf"
        # Sentinel rewrites its config as it learns; a restart keeps what it learnt.
        if not config.exists():
            config.write_text(
                f"port {self.port}\nbind 127.0.0.1\nprotected-mode no\n"
                f"dir {self._dir}\nlogfile redis.log\n"
                f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 1\n"
            )
        return [self._binary, str(config), "--sentinel"]


def redis_server_fixture(
    *, scope: Any = "session", name: str = "redis_server", **server_options: Any
) -> Callable[[], Iterator[RedisServer]]:
    """A pytest fixture yielding a started RedisServer, stopped and removed afterwards."""

    def fixture() -> Iterator[RedisServer]:
        with RedisServer(**server_options) as server:
            yield server

    return pytest.fixture(scope=scope, name=name)(fixture)
