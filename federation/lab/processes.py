"""Child processes of the lab: started with their output in a file, always stopped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

_STOP_TIMEOUT = 10.0
_POLL = 0.02


class LabProcessError(RuntimeError):
    """A lab process exited early or never became ready; the message carries its log tail."""


class ChildProcess:
    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    async def start(
        cls, name: str, args: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> ChildProcess:
        """Run ``python -m ARGS`` with stdout and stderr appended to ``log``."""
        with log.open("ab") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        return cls(name, process, log)

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def kill(self) -> None:
        """SIGKILL: the crash the lab demonstrates."""
        if self.running:
            self.process.kill()

    async def stop(self) -> int:
        """SIGTERM, then SIGKILL if it has not exited within the stop timeout."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(_STOP_TIMEOUT):
                    return await self.process.wait()
            except TimeoutError:
                self.process.kill()
        return await self.process.wait()

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines of its log (meshfed's process log)."""
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line still being written
        return lines

    async def wait_for(self, ready: Callable[[], bool], deadline_s: float, what: str) -> None:
        try:
            async with asyncio.timeout(deadline_s):
                # Another process's progress has no event to wait on; its log file is polled.
                while not ready():
                    if not self.running:
                        raise LabProcessError(f"{self.name} exited before {what}:\n{self.tail()}")
                    await asyncio.sleep(_POLL)
        except TimeoutError:
            raise LabProcessError(
                f"{self.name}: no {what} within {deadline_s:g}s:\n{self.tail()}"
            ) from None

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
