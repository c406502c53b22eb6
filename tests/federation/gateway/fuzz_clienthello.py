"""Coverage-guided fuzzing of the ClientHello reader with atheris.

    python tests/federation/gateway/fuzz_clienthello.py [-runs=N] [corpus_dir]

The first input byte picks the segment size, so the incremental paths are fuzzed too; any
exception other than ClientHelloError is a finding.
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped]  # ships no stubs

with atheris.instrument_imports():
    from federation.gateway.clienthello import ClientHelloError, ClientHelloReader


def test_one_input(data: bytes) -> None:
    if not data:
        return
    segment = data[0] % 64 + 1
    reader = ClientHelloReader(max_hello_bytes=8192)
    try:
        for i in range(1, len(data), segment):
            if reader.feed(data[i : i + segment]) is not None:
                return
    except ClientHelloError:
        return


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
