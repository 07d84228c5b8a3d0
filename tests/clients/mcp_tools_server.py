"""A tenant's own MCP tools server, built with the official MCP Python SDK (FastMCP) on the
Streamable HTTP transport, for tests/mcp_tools.rs.

Usage: mcp_tools_server.py PORT SPY_LOG KEY|- sse|json

Every HTTP request is appended to SPY_LOG as one JSON line (HTTP method, the headers the
client must send, the JSON-RPC method), so the test can count `tools/list` calls and check
headers. With a KEY, requests without `Authorization: Bearer KEY` get 401.
"""

import asyncio
import json
import sys

import uvicorn
from mcp.server.fastmcp import FastMCP

port = int(sys.argv[1])
spy_log = sys.argv[2]
key = None if sys.argv[3] == "-" else sys.argv[3]
json_response = sys.argv[4] == "json"

mcp = FastMCP("shop-tools", host="127.0.0.1", port=port, json_response=json_response)


@mcp.tool()
def lookup_order(order_id: str) -> str:
    """Look up an order's shipping status by its id."""
    return f"Order {order_id}: shipped on 2026-12-01, arriving Tuesday."


@mcp.tool(name="get.weather")
def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"Sunny in {city}."


@mcp.tool()
async def slow_report(seconds: float = 30) -> str:
    """A report that takes a long time."""
    await asyncio.sleep(seconds)
    return "report ready"


@mcp.tool()
def failing_lookup() -> str:
    """Always fails."""
    raise ValueError("the order system is down")


@mcp.tool()
def huge_export() -> str:
    """Returns far too much text."""
    return "line of export data\n" * 20000


class Spy:
    """Records each request, and checks the bearer key, in front of the SDK's app."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            rpc = json.loads(body).get("method") if body else None
        except ValueError:
            rpc = None
        with open(spy_log, "a") as log:
            log.write(
                json.dumps(
                    {
                        "http": scope["method"],
                        "rpc": rpc,
                        "authorization": headers.get("authorization"),
                        "session": headers.get("mcp-session-id"),
                        "protocol": headers.get("mcp-protocol-version"),
                        "accept": headers.get("accept"),
                    }
                )
                + "\n"
            )
        if key is not None and headers.get("authorization") != f"Bearer {key}":
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})
            return

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


uvicorn.run(Spy(mcp.streamable_http_app()), host="127.0.0.1", port=port, log_level="warning")
