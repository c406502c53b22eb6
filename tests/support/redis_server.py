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
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 10.0
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


class RedisServer:
    def __init__(
        self,
        *,
        persistence: bool = False,
        password: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._binary = redis_binary()
        self._dir = Path(tempfile.mkdtemp(prefix="meshfed-redis-"))
        self._persistence = persistence
        self._password = password
        self._extra_args = extra_args
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self._password}@" if self._password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def data_dir(self) -> Path:
        return self._dir

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        args = [self._binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self._dir), "--logfile", "redis.log", "--protected-mode", "no"]
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
        self._process = subprocess.Popen(
            self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisServerStartError(self._failure("exited while starting"))
            if self._answers_ping():
                return
            time.sleep(0.02)
        self.kill()
        raise RedisServerStartError(self._failure(f"did not answer PING in {START_TIMEOUT}s"))

    def _failure(self, what: str) -> str:
        log = self._dir / "redis.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        return f"redis-server on 127.0.0.1:{self.port} {what}; its log ends:\n{tail}"

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        # With requirepass a PING gets -NOAUTH, which still proves the server is serving.
        return reply.startswith((b"+PONG", b"-NOAUTH"))

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
        self._reap()

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
        self._reap()

    def _reap(self) -> None:
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def redis_server_fixture(
    *, scope: Any = "session", name: str = "redis_server", **server_options: Any
) -> Callable[[], Iterator[RedisServer]]:
    """A pytest fixture yielding a started RedisServer, stopped and removed afterwards."""

    def fixture() -> Iterator[RedisServer]:
        with RedisServer(**server_options) as server:
            yield server

    return pytest.fixture(scope=scope, name=name)(fixture)
