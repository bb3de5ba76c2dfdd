#!/usr/bin/env python3
"""Decode speed of the bundled byte-level models through zood: tokens per second while
generating after a prompt of 64 and of 2048 tokens (greedy, 64 new tokens), median of
several runs, from the stats zood returns (decode seconds exclude the prefill). Not
part of CI.

    swift build -c release
    python3 scripts/bench_decode.py --runs 5

A model that cannot take the context (GAM's learned positions, Orchid's l_max) is
reported as such, with zood's own error.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["mamba-shakespeare", "sessa-shakespeare", "gam-shakespeare", "orchid-shakespeare"]
PLUGINS = ["StateSpace", "Autoregressive", "Sessa", "GAM", "Orchid"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--contexts", type=int, nargs="+", default=[64, 2048])
    a = p.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from bench_embeddings import connect, generate_stubs, release_zood

    work = tempfile.mkdtemp(prefix="zoo-bench-decode-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2

    _, sock, zood = release_zood(work, PLUGINS)
    text = open(os.path.join(ROOT, "training", "README.md"), "rb").read() * 4
    try:
        channel, zoo = connect(sock)
        print(f"greedy decode of {a.new_tokens} tokens, median of {a.runs} runs, tokens/s (decode only)")
        print("| model | " + " | ".join(f"context {c}" for c in a.contexts) + " |")
        print("|---|" + "---|" * len(a.contexts))
        for model in MODELS:
            cells = []
            for context in a.contexts:
                prompt = list(text[:context])
                rates = []
                try:
                    for _ in range(a.runs):
                        last = None
                        for m in zoo.Generate(zoo_pb2.GenerateRequest(
                                model=model, prompt_token_ids=prompt,
                                options=zoo_pb2.GenerateOptions(max_tokens=a.new_tokens, temperature=0))):
                            last = m
                        s = last.stats
                        rates.append((s.generated_tokens - 1) / s.decode_seconds)
                    cells.append(f"{statistics.median(rates):.0f}")
                except grpc.RpcError as e:
                    cells.append(f"refused: {e.details()[:90]}")
            print(f"| {model} | " + " | ".join(cells) + " |", flush=True)
        channel.close()
    finally:
        zood.terminate()
        zood.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
