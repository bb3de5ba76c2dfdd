#!/usr/bin/env python3
"""Concurrent streams through zood over gRPC: the aggregate decode rate of N clients
generating at once, with and without continuous batching, next to one stream alone.

Two release zoods serve the same model side by side: one with --parallel 1 (requests
take turns, as zood did before batching) and one with --parallel N (their decode steps
run as one batch). Each round runs, on each zood in turn (A B A B, so machine drift hits
both alike): one stream alone, then N streams at once, each a greedy generation of
--tokens tokens from its own --prompt-token prompt. Prints per round the aggregate
decode tokens/s, time to first token and inter-token latency percentiles (p50, p99,
over every stream), and the batched/turn-taking ratio. Not part of CI.

The model is a random-weight mamba-130m checkpoint written by zoo-bench (the geometry
BENCHMARKS.md uses throughout), or any model folder given with --model.

    swift build -c release
    python3 scripts/bench_concurrent.py --streams 8 --rounds 5
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from bench_embeddings import connect, release_zood  # noqa: E402
from python_client_test import generate_stubs  # noqa: E402


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")


def stream(zoo, pb, model, prompt, tokens, out):
    """One greedy generation; appends (ttft, [inter-token gaps], tokens, first, last)."""
    request = pb.GenerateRequest(model=model, prompt_token_ids=prompt,
                                 options=pb.GenerateOptions(max_tokens=tokens, temperature=0))
    started = time.perf_counter()
    arrivals = []
    count = 0
    for message in zoo.Generate(request, timeout=600):
        if message.token_ids:
            arrivals.append(time.perf_counter())
            count += len(message.token_ids)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    out.append((arrivals[0] - started, gaps, count, arrivals[0], arrivals[-1]))


def measure(zoo, pb, model, prompts, tokens):
    """Runs one stream per prompt at once; returns the aggregate decode rate (tokens
    after each stream's first, over the time from the first first token to the last
    token), TTFTs and inter-token gaps."""
    results = []
    threads = [threading.Thread(target=stream, args=(zoo, pb, model, p, tokens, results)) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    decoded = sum(r[2] - 1 for r in results)
    span = max(r[4] for r in results) - min(r[3] for r in results)
    return decoded / span, [r[0] for r in results], [g for r in results for g in r[1]]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", help="a model folder (default: a random mamba-130m checkpoint)")
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--prompt-tokens", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--blas-threads", type=int, default=2)
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="zoo-bench-concurrent-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    from zoo.v1 import zoo_pb2 as pb

    source = a.model
    if not source:
        bin_dir = subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                                          text=True).strip()
        source = "/tmp/zoo-bench/mamba-130m"
        subprocess.run([os.path.join(bin_dir, "zoo-bench"), "--checkpoint", source, "--runs", "1", "--prefill", "8",
                        "--decode", "1"], check=True, capture_output=True)
    # The model's files, linked, with a zoo.json that turns EOS off: every stream runs
    # its full length.
    models = os.path.join(work, "models")
    folder = os.path.join(models, "model")
    os.makedirs(folder)
    for name in os.listdir(source):
        if name != "zoo.json":
            os.symlink(os.path.join(os.path.abspath(source), name), os.path.join(folder, name))
    with open(os.path.join(folder, "zoo.json"), "w") as f:
        json.dump({"eos_token_ids": []}, f)

    common = ["--blas-threads", str(a.blas_threads), "--max-queue", str(a.streams)]
    plugins = ["StateSpace", "Autoregressive", "Transformer", "Sessa", "GAM"]
    zoods = {}
    try:
        for name, parallel in [("turns", 1), ("batched", a.streams)]:
            _, sock, process = release_zood(work, plugins, models, args=common + ["--parallel", str(parallel)],
                                            name=name)
            zoods[name] = (process, connect(sock)[1])
        prompts = [[(7 * s + 3 * i + 1) % 1000 for i in range(a.prompt_tokens)] for s in range(a.streams)]
        for _, zoo in zoods.values():  # load and warm up (page in the weights)
            measure(zoo, pb, "model", prompts[:1], 8)
        print(f"{a.streams} streams x {a.tokens} tokens, greedy, prompts of {a.prompt_tokens} tokens, "
              f"--blas-threads {a.blas_threads}")
        print("| round | zood | one stream tok/s | N streams aggregate tok/s | × one stream | TTFT p50 / p99 s "
              "| inter-token p50 / p99 ms |")
        print("|---|---|---|---|---|---|---|")
        ratios = []
        for round_ in range(1, a.rounds + 1):
            rates = {}
            for name, (_, zoo) in zoods.items():
                one, _, _ = measure(zoo, pb, "model", prompts[:1], a.tokens)
                many, ttft, gaps = measure(zoo, pb, "model", prompts, a.tokens)
                rates[name] = many
                print(f"| {round_} | --parallel {1 if name == 'turns' else a.streams} | {one:.1f} | {many:.1f} "
                      f"| {many / one:.2f} | {percentile(ttft, 50):.3f} / {percentile(ttft, 99):.3f} "
                      f"| {1000 * percentile(gaps, 50):.1f} / {1000 * percentile(gaps, 99):.1f} |", flush=True)
            ratios.append(rates["batched"] / rates["turns"])
        print("batched / turn-taking aggregate, per round: " + ", ".join(f"{r:.2f}" for r in ratios))
    finally:
        for process, _ in zoods.values():
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
