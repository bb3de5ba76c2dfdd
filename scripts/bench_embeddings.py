#!/usr/bin/env python3
"""MiniLM embedding benchmark: zood's Embed RPC against sentence-transformers on
PyTorch CPU, side by side in one run. Not part of CI (needs torch and
sentence-transformers: pip install sentence-transformers).

    swift build -c release
    zoo pull minilm                                   # into ~/.zoo/models/minilm
    python3 scripts/bench_embeddings.py --runs 7

It starts a release zood on a private socket with the Transformer plugin and the
pulled model, loads the same folder with sentence-transformers in this process, and
alternates the two: for each run, each side embeds the same texts (a batch of 32
short sentences, about 16 tokens each, and single sentences) for a fixed number of
calls. zood's figure includes tokenising and the gRPC round trip; sentence-
transformers' includes its tokenising. Reported: embeddings per second, median of
the runs, and the ratio.
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

SUBJECTS = ["The old fisherman", "A young engineer", "My neighbour's dog", "The city council", "Her younger brother",
            "The quiet librarian", "A travelling musician", "The night nurse"]
ACTIONS = ["repaired the broken wooden fence behind the house", "walked slowly along the river after the storm",
           "found a forgotten letter inside an old coat", "argued about the budget for the new library"]


def sentences(n):
    """n distinct English sentences of about 16 WordPiece tokens with [CLS] and [SEP]."""
    out = []
    for i in range(n):
        out.append(f"{SUBJECTS[i % len(SUBJECTS)]} {ACTIONS[(i // len(SUBJECTS)) % len(ACTIONS)]} on day {i + 1}.")
    return out


def generate_stubs(into):
    from grpc_tools import protoc
    import grpc_tools
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    os.makedirs(into, exist_ok=True)
    rc = protoc.main(["protoc", f"-I{ROOT}/proto", f"-I{include}", f"--python_out={into}", f"--grpc_python_out={into}",
                      "zoo/v1/zoo.proto", "zoo/v1/plugin.proto"])
    if rc != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, into)


def release_zood(work, plugins, models=os.path.join(ROOT, "models"), env=None, args=(), name="zood"):
    """A release zood on a private socket in `work` (`name`.sock), serving `models` with the
    named plugins (libZoo<name>.so, copied into a 0700 folder as zood requires) and extra
    `args`; returns the build's bin folder, the socket and the process."""
    bin_dir = subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip()
    folder = os.path.join(work, "plugins")
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700)
        for plugin in plugins:
            shutil.copy(os.path.join(bin_dir, f"libZoo{plugin}.so"), folder)
    sock = os.path.join(work, f"{name}.sock")
    zood = subprocess.Popen([os.path.join(bin_dir, "zood"), "--socket", sock, "--models", models,
                             "--plugins", folder, "--log-level", "warning", *args], env=env)
    return bin_dir, sock, zood


def connect(sock):
    """Waits for zood's socket (up to 30 s), then a gRPC channel to it and a Zoo stub;
    generate_stubs must have run."""
    import grpc
    from zoo.v1 import zoo_pb2_grpc
    for _ in range(300):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    channel = grpc.insecure_channel(f"unix://{sock}")
    grpc.channel_ready_future(channel).result(timeout=30)
    return channel, zoo_pb2_grpc.ZooStub(channel)


def rate(fn, calls, per_call):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls * per_call / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=os.path.expanduser("~/.zoo/models/minilm"))
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-calls", type=int, default=20, help="calls per run at batch 32")
    p.add_argument("--single-calls", type=int, default=200, help="calls per run at batch 1")
    a = p.parse_args()
    if not os.path.exists(os.path.join(a.model, "model.safetensors")):
        sys.exit(f"{a.model} has no model.safetensors: run `zoo pull minilm` first")

    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(a.threads)

    work = tempfile.mkdtemp(prefix="zoo-bench-embed-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    from zoo.v1 import zoo_pb2

    models = os.path.join(work, "models")
    os.makedirs(models)
    os.symlink(os.path.abspath(a.model), os.path.join(models, "minilm"))
    _, sock, zood = release_zood(work, ["Transformer"], models, env=dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads)))
    try:
        channel, stub = connect(sock)
        st = SentenceTransformer(a.model, device="cpu")

        batch = sentences(32)
        single = batch[0]
        tokens = [len(st.tokenizer(s)["input_ids"]) for s in batch]
        print(f"batch of 32 sentences, {min(tokens)}-{max(tokens)} tokens (mean {statistics.mean(tokens):.1f}); "
              f"{a.threads} threads each; torch {torch.__version__}")

        zoo_batch = lambda: stub.Embed(zoo_pb2.EmbedRequest(model="minilm", texts=batch))
        zoo_single = lambda: stub.Embed(zoo_pb2.EmbedRequest(model="minilm", texts=[single]))
        st_batch = lambda: st.encode(batch, batch_size=32, normalize_embeddings=True)
        st_single = lambda: st.encode([single], batch_size=1, normalize_embeddings=True)
        # Warm up both (zood loads the model on first use) and check they agree.
        z = zoo_batch().embeddings
        s = st_batch()
        worst = min(sum(x * float(y) for x, y in zip(e.values, row)) for e, row in zip(z, s))
        print(f"agreement: lowest cosine over the batch {worst:.6f}")
        zoo_single(), st_single()

        results = {k: [] for k in ["zoo32", "st32", "zoo1", "st1"]}
        for run in range(a.runs):
            results["zoo32"].append(rate(zoo_batch, a.batch_calls, 32))
            results["st32"].append(rate(st_batch, a.batch_calls, 32))
            results["zoo1"].append(rate(zoo_single, a.single_calls, 1))
            results["st1"].append(rate(st_single, a.single_calls, 1))
            print(f"run {run + 1}: " + "  ".join(f"{k} {v[-1]:.0f}/s" for k, v in results.items()), flush=True)
        med = {k: statistics.median(v) for k, v in results.items()}
        print(f"\nmedian of {a.runs} runs, embeddings per second:")
        print(f"| batch | zoo (gRPC Embed) | sentence-transformers | ratio |")
        print(f"|---|---|---|---|")
        print(f"| 32 | {med['zoo32']:.0f} | {med['st32']:.0f} | {med['zoo32'] / med['st32']:.2f}x |")
        print(f"| 1 | {med['zoo1']:.0f} | {med['st1']:.0f} | {med['zoo1'] / med['st1']:.2f}x |")
        channel.close()
    finally:
        zood.terminate()
        zood.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
