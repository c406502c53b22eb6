"""Debian packages the gateway benchmark compares against, installed with apt when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# binary -> Debian package that provides it
BINARIES = {"nginx": "nginx", "haproxy": "haproxy", "wrk": "wrk"}
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
POLICY_RC = Path("/usr/sbin/policy-rc.d")
APT_TIMEOUT = 240.0


class MissingToolsError(RuntimeError):
    """A peer or the load generator is absent and this process may not install it."""


def missing_packages() -> list[str]:
    packages = [pkg for binary, pkg in BINARIES.items() if shutil.which(binary) is None]
    if not STREAM_MODULE.exists():
        packages.append("libnginx-mod-stream")
    return packages


def ensure_tools() -> None:
    """Installs what is missing when root; apt must not start nginx/haproxy as system services,
    which would take ports 80 and 443 and outlive the run."""
    packages = missing_packages()
    if not packages:
        return
    if os.geteuid() != 0:
        raise MissingToolsError(
            f"missing {', '.join(packages)}: run as root so the benchmark installs them, or "
            f"`sudo apt-get install {' '.join(packages)}` first"
        )
    # A policy that already refuses every service start (container images ship one) does
    # the job; any other is the machine owner's and is left alone.
    ours = not POLICY_RC.exists()
    if not ours and not _refuses_all_starts(POLICY_RC):
        raise MissingToolsError(
            f"{POLICY_RC} already exists; install {' '.join(packages)} by hand and rerun"
        )
    if ours:
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        ):
            subprocess.run(
                command, check=True, env=env, timeout=APT_TIMEOUT, stdout=subprocess.DEVNULL
            )
    finally:
        if ours:
            POLICY_RC.unlink()
    still = missing_packages()
    if still:
        raise MissingToolsError(f"apt-get finished but {', '.join(still)} is still missing")


def _refuses_all_starts(policy: Path) -> bool:
    lines = [line.strip() for line in policy.read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    return commands == ["exit 101"]
