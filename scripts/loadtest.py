#!/usr/bin/env python3
"""Load test: N concurrent gRPC clients x M requests each against a real zood serving the
bundled models (and all-MiniLM-L6-v2 when installed).

Each client has its own connection and sends a seeded mix of: streaming generations (with
and without stop strings and logprobs), generations cancelled mid-stream, generations
under a short deadline, embeddings, and ListModels / ShowModel / ListLoaded. Every request
must end in a completed stream (a final message with done=true), an answer, or a
well-formed refusal: RESOURCE_EXHAUSTED with a sentence (retried after a pause, as a
client should), or DEADLINE_EXCEEDED for a request that ran out of its own time. Anything
else is LOST (an unexpected status, a stream that ended without its final message), and a
request with no answer after --hang-seconds is HUNG. Both must be 0.

Reports p50/p99 time to first token and total latency of generations, zood's resident
memory at start, after warm-up and at the end, and its open descriptors before and after.
With --check, exits 1 unless nothing was lost or hung, and memory and descriptors are back
within the stated bounds (scripts/test runs `--clients 8 --requests 20 --check`).

    python3 scripts/loadtest.py --clients 64 --requests 100      # RELIABILITY.md's run
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from python_client_test import build_dir, generate_stubs  # noqa: E402

GENERATORS = ["mamba-shakespeare", "sessa-shakespeare", "gam-shakespeare", "orchid-shakespeare", "llama-addition"]
PLUGINS = ["libZooStateSpace.so", "libZooAutoregressive.so", "libZooTransformer.so", "libZooSessa.so",
           "libZooGAM.so", "libZooOrchid.so"]
PROMPTS = ["ROMEO:", "To be, or not", "KING HENRY:\nMy lord,", "1234+5678=", "First Citizen:\nBefore we"]


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes = {}
        self.lost = []
        self.ttft = []
        self.latency = []
        self.refusals = 0
        self.bad_refusals = []

    def add(self, kind, outcome):
        with self.lock:
            self.outcomes[(kind, outcome)] = self.outcomes.get((kind, outcome), 0) + 1

    def lose(self, kind, why):
        with self.lock:
            self.lost.append(f"{kind}: {why}")
        self.add(kind, "LOST")


def run_client(index, args, tally, socket, has_minilm):
    import grpc
    from zoo.v1 import zoo_pb2, zoo_pb2_grpc

    rng = random.Random(args.seed * 1000 + index)
    # Its own connection, as a separate client process would have (grpcio otherwise shares
    # one connection among all channels to the same address).
    channel = grpc.insecure_channel(f"unix://{socket}", options=[("grpc.use_local_subchannel_pool", 1)])
    zoo = zoo_pb2_grpc.ZooStub(channel)
    kinds = ["generate", "generate", "generate", "generate-stop", "generate-logprobs", "cancel", "deadline",
             "list", "show", "ps"] + (["embed", "embed"] if has_minilm else [])
    for _ in range(args.requests):
        kind = rng.choice(kinds)
        model = rng.choice(GENERATORS)
        options = zoo_pb2.GenerateOptions(max_tokens=rng.randint(8, args.max_tokens), seed=rng.randint(1, 1 << 30))
        if kind == "generate-stop":
            options.stop.extend(["\n\n", "e"])
        if kind == "generate-logprobs":
            options.logprobs = 3
        request = zoo_pb2.GenerateRequest(model=model, prompt=rng.choice(PROMPTS), options=options)
        while True:  # retried while refused as busy
            started = time.monotonic()
            try:
                if kind.startswith("generate") or kind in ("cancel", "deadline"):
                    timeout = 0.05 if kind == "deadline" else args.hang_seconds
                    stream = zoo.Generate(request, timeout=timeout)
                    first = None
                    last = None
                    n = 0
                    for message in stream:
                        n += 1
                        if first is None and (message.text or message.token_ids):
                            first = time.monotonic() - started
                        last = message
                        if kind == "cancel" and n == 2:
                            stream.cancel()
                            break
                    if kind == "cancel" and n == 2:
                        tally.add(kind, "cancelled by the client")
                    elif last is None or not last.done:
                        tally.lose(kind, f"{model}: the stream ended without its final message after {n} messages")
                    else:
                        with tally.lock:
                            if first is not None:
                                tally.ttft.append(first)
                            tally.latency.append(time.monotonic() - started)
                        tally.add(kind, "completed")
                elif kind == "embed":
                    texts = [rng.choice(PROMPTS) for _ in range(rng.randint(1, 4))]
                    reply = zoo.Embed(zoo_pb2.EmbedRequest(model="minilm", texts=texts), timeout=args.hang_seconds)
                    if len(reply.embeddings) != len(texts):
                        tally.lose(kind, f"{len(reply.embeddings)} embeddings for {len(texts)} texts")
                    else:
                        tally.add(kind, "completed")
                elif kind == "list":
                    zoo.ListModels(zoo_pb2.ListModelsRequest(), timeout=args.hang_seconds)
                    tally.add(kind, "completed")
                elif kind == "show":
                    zoo.ShowModel(zoo_pb2.ShowModelRequest(model=model), timeout=args.hang_seconds)
                    tally.add(kind, "completed")
                else:
                    zoo.ListLoaded(zoo_pb2.ListLoadedRequest(), timeout=args.hang_seconds)
                    tally.add(kind, "completed")
                break
            except grpc.RpcError as e:
                code = e.code()
                if code == grpc.StatusCode.CANCELLED and kind == "cancel":
                    tally.add(kind, "cancelled by the client")
                    break
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    with tally.lock:
                        tally.refusals += 1
                        if len(e.details() or "") < 20:
                            tally.bad_refusals.append(e.details())
                    time.sleep(rng.uniform(0.05, 0.25))
                    continue
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    if time.monotonic() - started >= args.hang_seconds - 1:
                        tally.add(kind, "HUNG")
                        with tally.lock:
                            tally.lost.append(f"{kind}: {model}: no answer within {args.hang_seconds} s")
                    else:
                        tally.add(kind, "deadline exceeded")
                    break
                tally.lose(kind, f"{model}: {code.name}: {e.details()}")
                break
            except Exception as e:  # a malformed answer: counted, never a dead client thread
                tally.lose(kind, f"{model}: {type(e).__name__}: {e}")
                break
    channel.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=100, help="requests per client")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hang-seconds", type=float, default=120, help="a request with no answer by then is HUNG")
    parser.add_argument("--zood-arg", action="append", default=[], help="an extra zood argument (repeatable)")
    parser.add_argument("--rss-bound-mb", type=float, default=64,
                        help="--check: the end's resident memory may exceed the warm-up's by at most this much")
    parser.add_argument("--fd-bound", type=int, default=4,
                        help="--check: descriptors at the end may exceed those at the start by at most this many")
    parser.add_argument("--check", action="store_true", help="exit 1 unless nothing was lost and memory and fds are back")
    parser.add_argument("--json", help="write the figures here as JSON")
    parser.add_argument("--bin", help="folder of the zood binary and plugins (default: the debug build's)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="zoo-load-", dir="/tmp")
    os.chmod(work, 0o700)
    generate_stubs(os.path.join(work, "stubs"))
    import grpc
    from zoo.v1 import zoo_pb2, zoo_pb2_grpc

    bin_dir = args.bin or build_dir()
    plugins = os.path.join(work, "plugins")
    models = os.path.join(work, "models")
    os.makedirs(plugins, mode=0o700)
    os.makedirs(models)
    for lib in PLUGINS:
        shutil.copy(os.path.join(bin_dir, lib), plugins)
    for name in GENERATORS:
        os.symlink(os.path.join(ROOT, "models", name), os.path.join(models, name))
    minilm = os.environ.get("ZOO_MINILM_MODEL", "")
    has_minilm = bool(minilm) and os.path.isdir(minilm)
    if has_minilm:
        os.symlink(minilm, os.path.join(models, "minilm"))
    else:
        print("loadtest: ZOO_MINILM_MODEL is not set to an installed minilm: no embeddings in the mix")
    socket = os.path.join(work, "zood.sock")
    log = open(os.path.join(work, "zood.log"), "w")
    zood = subprocess.Popen(
        [os.path.join(bin_dir, "zood"), "--socket", socket, "--models", models, "--plugins", plugins,
         "--blas-threads", "1", "--log-level", "warning"] + args.zood_arg,
        stdout=log, stderr=subprocess.STDOUT)
    try:
        channel = grpc.insecure_channel(f"unix://{socket}")
        grpc.channel_ready_future(channel).result(timeout=60)
        zoo = zoo_pb2_grpc.ZooStub(channel)
        time.sleep(0.5)
        rss_start, fds_start = proc_status(zood.pid, "VmRSS"), open_fds(zood.pid)
        # Warm-up: every model once (loads it), then the figures everything is compared to.
        for name in GENERATORS:
            for _ in zoo.Generate(zoo_pb2.GenerateRequest(model=name, prompt="A", options=zoo_pb2.GenerateOptions(max_tokens=4))):
                pass
        if has_minilm:
            zoo.Embed(zoo_pb2.EmbedRequest(model="minilm", texts=["warm up"]))
        channel.close()
        time.sleep(0.5)
        rss_warm = proc_status(zood.pid, "VmRSS")

        tally = Tally()
        threads = [threading.Thread(target=run_client, args=(i, args, tally, socket, has_minilm))
                   for i in range(args.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.hang_seconds * args.requests)
        seconds = time.monotonic() - started
        stuck = sum(t.is_alive() for t in threads)
        # Clients closed their connections: give zood a moment to notice, then measure.
        time.sleep(2)
        rss_end, fds_end = proc_status(zood.pid, "VmRSS"), open_fds(zood.pid)
        alive = zood.poll() is None
    finally:
        zood.terminate()
        try:
            zood.wait(timeout=20)
        except subprocess.TimeoutExpired:
            zood.kill()
        log.close()

    total = sum(tally.outcomes.values())
    lost = sum(n for (k, o), n in tally.outcomes.items() if o in ("LOST", "HUNG"))
    figures = {
        "clients": args.clients, "requests_per_client": args.requests, "requests": total, "seconds": round(seconds, 1),
        "lost_or_hung": lost, "stuck_clients": stuck, "busy_refusals_retried": tally.refusals,
        "outcomes": {f"{k} {o}": n for (k, o), n in sorted(tally.outcomes.items())},
        "ttft_p50_ms": round(percentile(tally.ttft, 50) * 1000, 1),
        "ttft_p99_ms": round(percentile(tally.ttft, 99) * 1000, 1),
        "latency_p50_ms": round(percentile(tally.latency, 50) * 1000, 1),
        "latency_p99_ms": round(percentile(tally.latency, 99) * 1000, 1),
        "rss_start_mb": round(rss_start / 2**20, 1), "rss_warm_mb": round(rss_warm / 2**20, 1),
        "rss_end_mb": round(rss_end / 2**20, 1), "fds_start": fds_start, "fds_end": fds_end,
        "zood_exit_status": zood.returncode,
    }
    print(json.dumps(figures, indent=2))
    for line in tally.lost[:20]:
        print("LOST", line)
    for line in tally.bad_refusals[:5]:
        print("REFUSAL WITHOUT A SENTENCE", repr(line))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    problems = []
    if not alive:
        problems.append("zood died during the run")
    if lost or stuck:
        problems.append(f"{lost} requests lost or hung, {stuck} clients stuck")
    if tally.bad_refusals:
        problems.append(f"{len(tally.bad_refusals)} refusals without a sentence")
    if total != args.clients * args.requests:
        problems.append(f"{total} outcomes counted for {args.clients * args.requests} requests")
    if rss_end > rss_warm + args.rss_bound_mb * 2**20:
        problems.append(f"resident memory grew from {rss_warm >> 20} MB after warm-up to {rss_end >> 20} MB")
    if fds_end > fds_start + args.fd_bound:
        problems.append(f"open descriptors grew from {fds_start} to {fds_end}")
    if zood.returncode != 0:
        problems.append(f"zood exited {zood.returncode} after SIGTERM")
    if problems:
        kept = os.path.join(tempfile.gettempdir(), "zoo-loadtest-zood.log")
        shutil.copy(os.path.join(work, "zood.log"), kept)
        print("loadtest: " + "; ".join(problems) + f" (zood's log: {kept})", file=sys.stderr)
        if not args.check:
            print("(not --check: reported only)", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if problems and args.check else 0)


if __name__ == "__main__":
    main()
