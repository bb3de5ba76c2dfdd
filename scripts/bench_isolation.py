#!/usr/bin/env python3
"""Decode speed through isolation: the bundled Mamba (mamba-shakespeare) served by one zood
in process and by one zood --isolate (the model in a worker process), side by side,
alternating A B A B so machine drift hits both alike. Speed is measured by the client:
generated tokens over the time from the first streamed token to the last, so the extra
hop through the worker is counted (zood's own stats, measured inside the worker, would
not see it). Not part of CI.

    swift build -c release
    python3 scripts/bench_isolation.py --rounds 6
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from python_client_test import generate_stubs  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--threads", type=int, default=2, help="zood --blas-threads")
    p.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="zoo-bench-iso-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2, zoo_pb2_grpc

    plugins = os.path.join(work, "plugins")
    models = os.path.join(work, "models")
    os.makedirs(plugins, mode=0o700)
    os.makedirs(models)
    for lib in ["libZooStateSpace.so", "libZooAutoregressive.so"]:
        shutil.copy(os.path.join(a.bin, lib), plugins)
    os.symlink(os.path.join(ROOT, "models", "mamba-shakespeare"), os.path.join(models, "mamba-shakespeare"))

    servers = {}
    for name, extra in [("in-process", []), ("isolated", ["--isolate"])]:
        socket = os.path.join(work, f"{name}.sock")
        proc = subprocess.Popen(
            [os.path.join(a.bin, "zood"), "--socket", socket, "--models", models, "--plugins", plugins,
             "--blas-threads", str(a.threads), "--log-level", "warning"] + extra)
        channel = grpc.insecure_channel(f"unix://{socket}")
        grpc.channel_ready_future(channel).result(timeout=60)
        servers[name] = (proc, zoo_pb2_grpc.ZooStub(channel))

    def run(stub):
        request = zoo_pb2.GenerateRequest(
            model="mamba-shakespeare", prompt="ROMEO:",
            options=zoo_pb2.GenerateOptions(max_tokens=a.tokens, temperature=0, stop=[]))
        first = last = None
        n = 0
        for message in stub.Generate(request):
            if message.token_ids:
                now = time.perf_counter()
                first = first or now
                last = now
                n += len(message.token_ids)
        return (n - 1) / (last - first)

    try:
        for _, stub in servers.values():
            run(stub)  # warm-up: loads the model (in the worker, for the isolated one)
        rates = {name: [] for name in servers}
        for r in range(a.rounds):
            for name, (_, stub) in servers.items():
                rates[name].append(run(stub))
            print(f"round {r + 1}: " + "  ".join(f"{n} {rates[n][-1]:.0f} tok/s" for n in servers), flush=True)
        a_, b_ = (statistics.median(rates[n]) for n in servers)
        print(f"median: in-process {a_:.0f} tok/s, isolated {b_:.0f} tok/s, isolated/in-process {b_ / a_:.3f}")
        ratios = [b / a for a, b in zip(rates["in-process"], rates["isolated"])]
        print("per-round ratio: " + " ".join(f"{x:.3f}" for x in ratios))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
