#!/usr/bin/env python3
"""Bits per byte of the bundled causal models on Shakespeare none of them trained on
(training/data/shakespeare-heldout.txt: the validation split of training/train.py),
each measured by `zoo eval` against a release zood: in one pass over the whole text
(state carried from the first byte to the last, or the model's position limit as
windows), and in disjoint windows of 256 bytes (the training length), next to the loss
PyTorch measured on the same split at training time (models/<name>/reference.json).
Not part of CI.

    swift build -c release
    python3 scripts/bench_eval.py
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["mamba-shakespeare", "sessa-shakespeare", "gam-shakespeare", "orchid-shakespeare"]
PLUGINS = ["StateSpace", "Autoregressive", "Sessa", "GAM", "Orchid"]
TEXT = os.path.join(ROOT, "training", "data", "shakespeare-heldout.txt")


def main():
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from bench_embeddings import release_zood

    work = tempfile.mkdtemp(prefix="zoo-bench-eval-", dir="/tmp")
    os.chmod(work, 0o700)
    bin_dir, sock, zood = release_zood(work, PLUGINS)
    try:
        for _ in range(300):
            if os.path.exists(sock):
                break
            time.sleep(0.1)

        def evaluate(model, window):
            out = subprocess.run([os.path.join(bin_dir, "zoo"), "eval", model, TEXT, "--json", "--window", str(window),
                                  "--socket", sock], capture_output=True, text=True, check=True)
            return json.loads(out.stdout)

        size = os.path.getsize(TEXT)
        print(f"`zoo eval MODEL {os.path.relpath(TEXT, ROOT)}` ({size} bytes), bits per byte (lower is better)")
        print("| model | one pass | windows of 256 | PyTorch at training, windows of its training length | scored bytes/s (one pass) |")
        print("|---|---|---|---|---|")
        for model in MODELS:
            whole, windowed = evaluate(model, 0), evaluate(model, 256)
            with open(os.path.join(ROOT, "models", model, "reference.json")) as f:
                reference = json.load(f)
            trained = reference["val_loss_nats_per_byte"] / math.log(2)
            one_pass = f"{whole['bits_per_byte']:.4f}" + (f" (its limit: windows of {whole['window']})" if whole["window"] else "")
            print(f"| {model} | {one_pass} | {windowed['bits_per_byte']:.4f} | {trained:.4f} "
                  f"(seq {reference['val_seq_len']}) | {whole['scored_bytes'] / whole['seconds']:.0f} |", flush=True)
    finally:
        zood.terminate()
        zood.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
