"""Run as a separate process by the sqlite tests: put one key, say "ok", then maybe linger.

python -m tests.federation.store.sqlite_writer URL KEY VALUE [--linger]
"""

from __future__ import annotations

import asyncio
import sys

from federation.store import open_store


async def main(url: str, key: str, value: str, linger: bool) -> None:
    store = open_store(url)
    await store.put(key, value.encode())
    print("ok", flush=True)
    if linger:
        await asyncio.Event().wait()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], "--linger" in sys.argv[4:]))
