#!/usr/bin/env python3
"""What each masked-diffusion decoder trades, measured through zood on the bundled
addition models (training/README.md, "Addition"): exact-match accuracy on held-out
problems, forward passes (zood's GenerateStats.forward_passes, the NFE) per answer
token, and answer tokens per second of wall time (the client's clock around each
request). The autoregressive model of the same size and data is the baseline. Every
setting runs the same problems; the sweep repeats `--runs` times and reports the median
rate (accuracy and forward passes are deterministic at temperature 0). Not part of CI.

    swift build -c release
    python3 scripts/bench_diffusion.py --runs 3 --problems 200
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGINS = ["Transformer", "Diffusion", "Autoregressive"]
ANSWER_SLOTS = 8  # 5 digits then EOS padding, as the models were trained

# (label, model, decoder, options)
SETTINGS = [
    ("ar (baseline)", "llama-addition", "ar", {}),
    ("llada, 8 steps (1 token/step)", "llada-addition", "llada", {"steps": "8"}),
    ("llada, 4 steps", "llada-addition", "llada", {"steps": "4"}),
    ("llada, 2 steps", "llada-addition", "llada", {"steps": "2"}),
    ("llada, 8 steps, 2 blocks of 4", "llada-addition", "llada", {"steps": "8", "block_length": "4"}),
    ("mdlm, 8 steps", "llada-addition", "mdlm", {"steps": "8"}),
    ("fast-dllm τ 0.9, no cache", "llada-addition", "fast-dllm", {"threshold": "0.9", "cache": "none", "block_length": "0"}),
    ("fast-dllm τ 0.9, prefix cache", "llada-addition", "fast-dllm", {"threshold": "0.9", "cache": "prefix", "block_length": "4"}),
    ("fast-dllm τ 0.9, dual cache", "llada-addition", "fast-dllm", {"threshold": "0.9", "cache": "dual", "block_length": "4"}),
    ("fast-dllm τ 0.7, no cache", "llada-addition", "fast-dllm", {"threshold": "0.7", "cache": "none", "block_length": "0"}),
    ("fast-dllm τ 0.5, no cache", "llada-addition", "fast-dllm", {"threshold": "0.5", "cache": "none", "block_length": "0"}),
    ("dcd s_init 4, τ 0.9, no cache", "llada-addition", "dcd", {"s_init": "4", "threshold": "0.9", "cache": "none"}),
    ("dcd s_init 4, τ 0.9, dual cache", "llada-addition", "dcd", {"s_init": "4", "threshold": "0.9", "cache": "dual", "refresh_count": "4"}),
    ("dcd s_init 4, τ 0.7, no cache", "llada-addition", "dcd", {"s_init": "4", "threshold": "0.7", "cache": "none"}),
    ("window-diffusion 4/2/4", "llada-addition", "window-diffusion", {"window_tokens": "4", "active_tokens": "2", "refresh_cycle": "4"}),
]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--problems", type=int, default=200)
    a = p.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from bench_embeddings import generate_stubs

    work = tempfile.mkdtemp(prefix="zoo-bench-diffusion-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2, zoo_pb2_grpc

    with open(os.path.join(ROOT, "training", "data", "addition-test.jsonl")) as f:
        problems = [json.loads(line) for line in f][: a.problems]

    bin_dir = subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip()
    plugins = os.path.join(work, "plugins")
    os.makedirs(plugins, mode=0o700)
    for name in PLUGINS:
        shutil.copy(os.path.join(bin_dir, f"libZoo{name}.so"), plugins)
    sock = os.path.join(work, "zood.sock")
    zood = subprocess.Popen([os.path.join(bin_dir, "zood"), "--socket", sock, "--models", os.path.join(ROOT, "models"),
                             "--plugins", plugins, "--log-level", "warning"])
    try:
        for _ in range(300):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        channel = grpc.insecure_channel(f"unix://{sock}")
        grpc.channel_ready_future(channel).result(timeout=30)
        zoo = zoo_pb2_grpc.ZooStub(channel)

        def solve(model, decoder, options, problem):
            last, ids = None, []
            for m in zoo.Generate(zoo_pb2.GenerateRequest(
                    model=model, prompt_token_ids=list(problem["prompt"].encode()),
                    options=zoo_pb2.GenerateOptions(max_tokens=ANSWER_SLOTS, temperature=0, decoder=decoder,
                                                    decoder_options=options))):
                ids += m.token_ids
                last = m
            return bytes(ids).decode("latin-1") == problem["answer"], last.stats.forward_passes

        results = {}
        for run in range(a.runs):
            for label, model, decoder, options in SETTINGS:
                try:
                    start = time.perf_counter()
                    outcomes = [solve(model, decoder, options, pr) for pr in problems]
                    seconds = time.perf_counter() - start
                except grpc.RpcError as e:
                    results[label] = f"refused: {e.details()[:80]}"
                    continue
                right = sum(ok for ok, _ in outcomes)
                passes = sum(n for _, n in outcomes)
                answer_tokens = len(problems) * 5
                entry = results.setdefault(label, {"accuracy": right / len(problems),
                                                   "passes": passes / answer_tokens, "rates": []})
                entry["rates"].append(answer_tokens / seconds)
            print(f"run {run + 1} of {a.runs} done", file=sys.stderr, flush=True)

        print(f"{len(problems)} held-out problems, temperature 0, {a.runs} runs (median tokens/s)")
        print("| decoder and setting | exact match | forward passes per answer token | answer tokens/s |")
        print("|---|---|---|---|")
        for label, *_ in SETTINGS:
            r = results[label]
            if isinstance(r, str):
                print(f"| {label} | {r} | | |")
                continue
            print(f"| {label} | {100 * r['accuracy']:.1f}% | {r['passes']:.2f} | {statistics.median(r['rates']):.0f} |")
        channel.close()
    finally:
        zood.terminate()
        zood.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
