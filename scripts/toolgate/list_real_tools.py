#!/usr/bin/env python3
"""List the tools of the three real MCP reference servers over stdio and save them.

Needs: pip install mcp mcp-server-git mcp-server-time mcp-server-fetch
Writes real_tools.json next to this file: {"git": [...], "time": [...], "fetch": [...]},
each tool as tools/list returned it (name, description, inputSchema). Listing needs no network.
"""
import asyncio
import json
import os
import shutil
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = {
    "git": "mcp-server-git",
    "time": "mcp-server-time",
    "fetch": "mcp-server-fetch",
}


def _command(script):
    path = shutil.which(script)
    if path:
        return path, []
    # fall back to the module form
    return sys.executable, ["-m", script.replace("-", "_")]


async def list_tools(script):
    cmd, args = _command(script)
    params = StdioServerParameters(command=cmd, args=args)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.list_tools()
            out = []
            for t in result.tools:
                d = {"name": t.name, "description": t.description,
                     "inputSchema": t.inputSchema if hasattr(t, "inputSchema") else t.input_schema}
                out.append(d)
            return out


async def main():
    data = {}
    for name, script in SERVERS.items():
        data[name] = await list_tools(script)
        print(name, [t["name"] for t in data[name]], file=sys.stderr)
    with open(os.path.join(HERE, "real_tools.json"), "w") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
