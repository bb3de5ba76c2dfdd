"""Writes the held-out Shakespeare text: the validation split of train.py (the last 2%
of every work, cut at a line start), which no demo model trained on. `zoo eval` on it
gives BENCHMARKS.md's bits-per-byte table. Needs numpy, not torch.

    python3 training/heldout.py [--out training/data/shakespeare-heldout.txt]
"""
import argparse
import os

from shakespeare_data import fetch_texts, split_texts

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data", "shakespeare-heldout.txt"))
    p.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/zoo-training"))
    p.add_argument("--val-fraction", type=float, default=0.02, help="as train.py's default")
    args = p.parse_args()
    _, val = split_texts(fetch_texts(args.cache_dir), args.val_fraction)
    with open(args.out, "wb") as f:
        f.write(val.astype("uint8").tobytes())
    print(f"wrote {args.out}: {len(val)} bytes")
