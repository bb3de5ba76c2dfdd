#!/usr/bin/env python3
"""zoo side by side with llama.cpp on one machine, in one run: prefill and decode of the
mamba-130m geometry (random weights) by zoo-bench (F32, F16, BF16 and Q8 weights) and by
llama.cpp's llama-bench (F32, F16 and Q8_0), alternated round by round (zoo, then
llama.cpp, then zoo again...)
so machine drift hits both alike. Prints every round, the ratios, and each decode rate
as a fraction of the memory-bandwidth roofline (weight bytes read per token ÷ the read
bandwidth measured here, on the same machine, with the same threads).

llama.cpp is built from the tree vendored in llama-cpp-python's source distribution on
PyPI (--llama-cpp-python, default 0.3.36), with Debian's cmake (installed with apt-get
when missing; run as root or install cmake first), into --cache (default
~/.cache/zoo/llama.cpp); the checkpoint zoo-bench writes is converted to GGUF by that
tree's own convert_hf_to_gguf.py, which needs python3 with torch, numpy and
transformers (pip). Nothing of llama.cpp is committed, and CI does not run this.

    swift build -c release --product zoo-bench
    python3 scripts/bench_vs_llamacpp.py --rounds 5
    python3 scripts/bench_vs_llamacpp.py --rounds 5 --hog    # a CPU hog beside both
"""
import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ["f32", "f16", "q8_0"]
# zoo's weight formats: the checkpoint's dtype, or F32 quantised at load (zoo.json).
ZOO_FORMATS = ["f32", "f16", "bf16", "q8"]
# The llama.cpp type each zoo format is compared with.
COUNTERPART = {"f32": "f32", "f16": "f16", "bf16": "f16", "q8": "q8_0"}

# Streaming read bandwidth with `threads` threads: each sums its half of a 1 GiB buffer,
# best of 5. Written here because nothing installed measures just that.
BANDWIDTH_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define N (1L << 28)
static float *buffer; static int threads; static double sums[64];
static void *reader(void *arg) {
  long id = (long)arg, part = N / threads; float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (long i = id * part; i < (id + 1) * part; i += 4) { s0 += buffer[i]; s1 += buffer[i+1]; s2 += buffer[i+2]; s3 += buffer[i+3]; }
  sums[id] = s0 + s1 + s2 + s3; return NULL;
}
int main(int argc, char **argv) {
  threads = atoi(argv[1]); buffer = malloc(N * sizeof(float));
  for (long i = 0; i < N; i++) buffer[i] = (float)(i & 7);
  double best = 0;
  for (int r = 0; r < 5; r++) {
    struct timespec a, b; pthread_t t[64]; clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, reader, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, rate = N * sizeof(float) / s / 1e9;
    if (rate > best) best = rate;
  }
  printf("%.2f %g\n", best, sums[0]); return 0;
}
"""


def run(cmd, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def fetch_llama_cpp(cache, version):
    """The llama.cpp tree of llama-cpp-python `version`'s sdist, its sha256 checked
    against PyPI's simple index."""
    tree = os.path.join(cache, f"llama_cpp_python-{version}", "vendor", "llama.cpp")
    if os.path.isdir(tree):
        return tree
    name = f"llama_cpp_python-{version}.tar.gz"
    index = urllib.request.urlopen("https://pypi.org/simple/llama-cpp-python/").read().decode()
    match = re.search(r'href="([^"]*/' + re.escape(name) + r')#sha256=([0-9a-f]{64})"', index)
    if not match:
        raise SystemExit(f"{name} is not on PyPI's simple index")
    archive = os.path.join(cache, name)
    urllib.request.urlretrieve(match.group(1), archive)
    with open(archive, "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != match.group(2):
            raise SystemExit(f"{name}: sha256 does not match PyPI's index")
    with tarfile.open(archive) as t:
        t.extractall(cache, filter="data")
    return tree


def build_llama_bench(tree):
    binary = os.path.join(tree, "build", "bin", "llama-bench")
    if os.path.exists(binary):
        return binary
    if not shutil.which("cmake"):
        run(["apt-get", "install", "-y", "cmake"])
    run(["cmake", "-S", tree, "-B", os.path.join(tree, "build"), "-DCMAKE_BUILD_TYPE=Release",
         "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_CURL=OFF",
         "-DGGML_NATIVE=ON"])
    run(["cmake", "--build", os.path.join(tree, "build"), "--target", "llama-bench", "-j", str(os.cpu_count())])
    return binary


def convert(tree, checkpoint, out_dir):
    paths = {}
    for kind in TYPES:
        path = os.path.join(out_dir, f"mamba-130m-{kind}.gguf")
        if not os.path.exists(path):
            run([sys.executable, os.path.join(tree, "convert_hf_to_gguf.py"), checkpoint, "--outtype", kind,
                 "--outfile", path], env=dict(os.environ, PYTHONPATH=os.path.join(tree, "gguf-py")))
        paths[kind] = path
    return paths


def zoo_checkpoints(binary, base, threads):
    """A checkpoint folder per zoo format: F32 (also converted for llama.cpp), F16 and BF16
    written by zoo-bench with the same geometry, and the F32 file with zoo.json asking for Q8."""
    folders = {}
    for kind in ZOO_FORMATS:
        folder = base if kind == "f32" else f"{base}-zoo-{kind}"
        if kind == "q8" and not os.path.exists(os.path.join(folder, "model.safetensors")):
            os.makedirs(folder, exist_ok=True)
            for name in ("config.json", "model.safetensors"):
                os.link(os.path.join(base, name), os.path.join(folder, name))
            with open(os.path.join(folder, "zoo.json"), "w") as f:
                f.write('{"weights": "q8"}\n')
        dtype = kind.upper() if kind in ("f16", "bf16") else "F32"
        zoo_bench(binary, folder, threads, 8, 1, dtype)  # writes the checkpoint when missing
        folders[kind] = folder
    return folders


def zoo_bench(binary, checkpoint, threads, prefill, decode, dtype="F32"):
    out = run([binary, "--checkpoint", checkpoint, "--dtype", dtype, "--runs", "1", "--threads", str(threads),
               "--prefill", str(prefill), "--decode", str(decode)], capture_output=True, text=True).stdout
    m = re.search(r"run 1: prefill ([0-9.]+) tok/s, decode ([0-9.]+) tok/s", out)
    return float(m.group(1)), float(m.group(2))


def llama_bench(binary, model, threads, prefill, decode):
    out = run([binary, "-m", model, "-t", str(threads), "-p", str(prefill), "-n", str(decode), "-r", "1", "-o", "json"],
              capture_output=True, text=True).stdout
    rows = json.loads(out)
    pp = next(r["avg_ts"] for r in rows if r["n_prompt"] == prefill and r["n_gen"] == 0)
    tg = next(r["avg_ts"] for r in rows if r["n_gen"] == decode and r["n_prompt"] == 0)
    return pp, tg


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prefill", type=int, default=512)
    p.add_argument("--decode", type=int, default=128)
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/zoo/llama.cpp"))
    p.add_argument("--llama-cpp-python", default="0.3.36")
    p.add_argument("--hog", action="store_true", help="run a busy-looping process beside both benchmarks")
    a = p.parse_args()

    os.makedirs(a.cache, exist_ok=True)
    tree = fetch_llama_cpp(a.cache, a.llama_cpp_python)
    llama = build_llama_bench(tree)
    bin_dir = subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip()
    zoo = os.path.join(bin_dir, "zoo-bench")
    checkpoint = os.path.join(a.cache, "mamba-130m")
    folders = zoo_checkpoints(zoo, checkpoint, a.threads)
    ggufs = convert(tree, checkpoint, a.cache)

    source = os.path.join(a.cache, "bandwidth.c")
    with open(source, "w") as f:
        f.write(BANDWIDTH_C)
    run(["cc", "-O2", "-pthread", "-o", os.path.join(a.cache, "bandwidth"), source])
    bandwidth = float(run([os.path.join(a.cache, "bandwidth"), str(a.threads)], capture_output=True,
                          text=True).stdout.split()[0])
    # Bytes every decode step reads: the weights (the state is a few MB, the logits 0.2 MB).
    with open(os.path.join(checkpoint, "model.safetensors"), "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    parameters = sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
    # llama.cpp's Q8_0 keeps a 16-bit scale per 32 weights, zoo's Q8 a 32-bit one.
    bytes_per_weight = {"zoo f32": 4, "zoo f16": 2, "zoo bf16": 2, "zoo q8": 36 / 32, "f32": 4, "f16": 2,
                        "q8_0": 34 / 32}
    roofline = {k: bandwidth * 1e9 / (parameters * b) for k, b in bytes_per_weight.items()}

    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if a.hog else None
    try:
        print(f"mamba-130m geometry ({parameters / 1e6:.1f} M parameters), {a.threads} threads, prefill {a.prefill}, "
              f"decode {a.decode}; read bandwidth {bandwidth:.1f} GB/s" + ("; a CPU hog beside both" if a.hog else ""))
        print("| round | " + " | ".join(f"zoo {k.upper()} pp / tg" for k in ZOO_FORMATS) + " | "
              + " | ".join(f"llama.cpp {k.upper()} pp / tg" for k in TYPES) + " |")
        print("|---" * (1 + len(ZOO_FORMATS) + len(TYPES)) + "|")
        ratios = {k: [] for k in ZOO_FORMATS}
        for round_ in range(1, a.rounds + 1):
            zoo_rates = {k: zoo_bench(zoo, folders[k], a.threads, a.prefill, a.decode,
                                      k.upper() if k in ("f16", "bf16") else "F32") for k in ZOO_FORMATS}
            ref = {kind: llama_bench(llama, ggufs[kind], a.threads, a.prefill, a.decode) for kind in TYPES}
            cells = [f"{pp:.1f} / {tg:.1f}" for pp, tg in list(zoo_rates.values()) + [ref[k] for k in TYPES]]
            print(f"| {round_} | " + " | ".join(cells) + " |", flush=True)
            for k in ZOO_FORMATS:
                other = ref[COUNTERPART[k]]
                ratios[k].append((zoo_rates[k][0] / other[0], zoo_rates[k][1] / other[1]))
            print("  zoo/llama.cpp pp, tg: " + ", ".join(
                f"{k.upper()}/{COUNTERPART[k].upper()} {ratios[k][-1][0]:.2f}, {ratios[k][-1][1]:.2f}"
                for k in ZOO_FORMATS), flush=True)
            print("  roofline fractions (tg ÷ bandwidth/bytes per token): "
                  + ", ".join([f"zoo {k.upper()} {zoo_rates[k][1] / roofline['zoo ' + k]:.0%}" for k in ZOO_FORMATS]
                              + [f"llama.cpp {k.upper()} {ref[k][1] / roofline[k]:.0%}" for k in TYPES]), flush=True)
        for k in ZOO_FORMATS:
            tg = [r[1] for r in ratios[k]]
            pp = [r[0] for r in ratios[k]]
            print(f"zoo {k.upper()} / llama.cpp {COUNTERPART[k].upper()}: decode per round "
                  + ", ".join(f"{r:.2f}" for r in tg) + f" (min {min(tg):.2f}); prefill per round "
                  + ", ".join(f"{r:.2f}" for r in pp) + f" (min {min(pp):.2f})")
    finally:
        if hog:
            hog.kill()


if __name__ == "__main__":
    main()
