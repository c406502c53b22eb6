"""Run ``meshfed serve`` as a real process on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(directory: Path, port: int, store: str, token_sha256: str) -> Path:
    path = directory / "meshfed.yaml"
    path.write_text(
        f"""
federation: {{name: e2e, trust_domain: e2e.mesh}}
store: {store}
api:
  listen: 127.0.0.1:{port}
  drain_timeout: 5s
  tokens: [{{name: e2e, role: operator, sha256: "{token_sha256}"}}]
clusters:
  - {{name: aws-use1, cloud: aws, region: us-east-1}}
services:
  - {{name: payments.prod, port: 8080}}
"""
    )
    return path


class ServeProcess:
    def __init__(self, config: Path, port: int, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "federation.cli", "serve", "--config", str(config)],
            stdout=self._log,
            stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited early:\n{self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"serve not ready in {timeout}s:\n{self.log_path.read_text()}")

    def log_lines(self) -> list[dict[str, object]]:
        lines = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def terminate(self, timeout: float = 15.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._log.close()
