"""A FastMCP server protected by FastMCP's in-memory OAuth provider, on
127.0.0.1, for scripts/bench.

Usage: fastmcp_server.py LOG_FILE [--nagle]

With --nagle the listening socket is made as `uvicorn --workers N` (or
`--fd`, or gunicorn) makes it: without IPPROTO_TCP, so that asyncio leaves
Nagle's algorithm on for every connection, as such servers do in the field.

Prints "url <MCP URL>" on stdout once bound. Every HTTP request is appended
to LOG_FILE as "<HTTP method> <path> <JSON-RPC method or -> <status>", the
format of the test kit's bench server. Stops on SIGTERM or SIGINT.
"""

import asyncio
import json
import socket
import sys

import uvicorn
from fastmcp import FastMCP
from fastmcp.server.auth.providers.in_memory import InMemoryOAuthProvider
from mcp.server.auth.settings import ClientRegistrationOptions


def logged(app, log):
    """Wraps an ASGI app: one log line per HTTP request, written when the
    response starts, so it is on disk before the client sees the answer."""

    async def wrapper(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        body = bytearray()

        async def receive_recording():
            message = await receive()
            if message["type"] == "http.request" and len(body) < 65536:
                body.extend(message.get("body", b""))
            return message

        async def send_logging(message):
            if message["type"] == "http.response.start":
                rpc = "-"
                try:
                    parsed = json.loads(body) if body else None
                    if isinstance(parsed, dict) and isinstance(parsed.get("method"), str):
                        rpc = parsed["method"]
                    elif isinstance(parsed, dict) and "id" in parsed:
                        rpc = "(response)"
                except ValueError:
                    pass
                log.write(f"{scope['method']} {scope['path']} {rpc} {message['status']}\n")
                log.flush()
            await send(message)

        await app(scope, receive_recording, send_logging)

    return wrapper


def main():
    args = sys.argv[1:]
    nagle = "--nagle" in args
    args = [arg for arg in args if arg != "--nagle"]
    if len(args) != 1:
        sys.exit("usage: fastmcp_server.py LOG_FILE [--nagle]")
    log = open(args[0], "a", buffering=1, encoding="utf-8")
    # Bound here to learn the port before the app is built. IPPROTO_TCP,
    # as `uvicorn.run(host=..., port=...)` gets it from getaddrinfo: asyncio
    # sets TCP_NODELAY only on sockets whose protocol says TCP. Without it,
    # each answer's body waits ~40 ms behind Nagle on a reused connection,
    # which is the socket's doing, not FastMCP's. --nagle asks for exactly
    # that: protocol 0, as uvicorn's own bind_socket() (--workers, --fd) uses.
    protocol = 0 if nagle else socket.IPPROTO_TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"

    auth = InMemoryOAuthProvider(
        base_url=base,
        client_registration_options=ClientRegistrationOptions(enabled=True),
    )
    mcp = FastMCP("fastmcp-bench", auth=auth)

    @mcp.tool
    def echo(text: str) -> str:
        """Returns the given text unchanged"""
        return text

    app = logged(mcp.http_app(path="/mcp"), log)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    print(f"url {base}/mcp", flush=True)
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
