"""The FastMCP client: connect with OAuth, ping, disconnect.

Usage: fastmcp_ping.py URL CACHE_DIR

Tokens and the client registration are kept in CACHE_DIR (the file store
FastMCP's own CLI uses), so a second run is warm. The browser step goes to
$BROWSER, as Python's webbrowser module does.
"""

import asyncio
import sys
import warnings

from fastmcp import Client
from fastmcp.client.auth import OAuth
from key_value.aio.stores.filetree import (
    FileTreeStore,
    FileTreeV1CollectionSanitizationStrategy,
    FileTreeV1KeySanitizationStrategy,
)


async def main(url, cache):
    store = FileTreeStore(
        data_directory=cache,
        key_sanitization_strategy=FileTreeV1KeySanitizationStrategy(cache),
        collection_sanitization_strategy=FileTreeV1CollectionSanitizationStrategy(cache),
    )
    async with Client(url, auth=OAuth(token_storage=store)) as client:
        # 2026-07-28 has no ping: there, as mcp-oauth does, an uncached
        # server/discover (Client.ping() sends ping whatever the revision).
        version = client.protocol_version or ""
        if version >= "2026-07-28":
            await client.session.send_discover(version)
        else:
            await client.ping()


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    asyncio.run(main(sys.argv[1], sys.argv[2]))
