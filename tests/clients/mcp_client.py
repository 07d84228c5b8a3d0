"""The official MCP Python SDK's client managing a tenant through POST /mcp
(Streamable HTTP). Prints one JSON object of what it saw; tests/mcp.rs checks it."""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


def data(result):
    return None if result.isError else json.loads(result.content[0].text)


async def main(base, token, conversation_id):
    seen = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(f"{base}/mcp", headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            seen["server"] = init.serverInfo.name
            seen["protocol"] = init.protocolVersion
            tools = await session.list_tools()
            seen["tools"] = sorted(t.name for t in tools.tools)
            created = data(await session.call_tool(
                "create_corpus_entry",
                {"title": "Gift cards", "content": "Gift cards never expire.", "tags": ["billing"]},
            ))
            seen["created_title"] = created["title"]
            found = data(await session.call_tool("search_corpus", {"query": "gift cards expire"}))
            seen["search_first"] = found["corpus"][0]["id"] == created["id"]
            updated = data(await session.call_tool(
                "update_corpus_entry", {"id": created["id"], "priority": 9}
            ))
            seen["updated_priority"] = updated["priority"]
            got = data(await session.call_tool("get_corpus_entry", {"id": created["id"]}))
            seen["got_priority"] = got["priority"]
            bad = await session.call_tool("create_corpus_entry", {"title": "No content"})
            seen["bad_is_error"] = bad.isError
            seen["bad_text"] = bad.content[0].text
            segments = data(await session.call_tool("list_segments", {}))
            seen["segments"] = [s["slug"] for s in segments["segments"]]
            segment = data(await session.call_tool(
                "update_segment", {"id": "general", "welcomeMessage": "Hi from MCP"}
            ))
            seen["welcome"] = segment["welcomeMessage"]
            listed = data(await session.call_tool("list_conversations", {"limit": 5}))
            seen["conversations"] = listed["pagination"]["total"]
            conversation = data(await session.call_tool("get_conversation", {"id": conversation_id}))
            seen["transcript_roles"] = [m["role"] for m in conversation["messages"]]
            deleted = data(await session.call_tool("delete_corpus_entry", {"id": created["id"]}))
            seen["deleted"] = deleted["deleted"]
            listed = data(await session.call_tool("list_corpus", {}))
            seen["left"] = listed["pagination"]["total"]
    print(json.dumps(seen))


asyncio.run(main(*sys.argv[1:4]))
