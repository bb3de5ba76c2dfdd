#!/usr/bin/env python3
"""PyTorch (transformers) side of the Mamba benchmark: the same checkpoint zoo-bench
writes, the same measurement (prefill N tokens with use_cache, then decode M tokens
one at a time from the cache, greedy), median of several runs. Not part of CI.

    zoo-bench --runs 5                      # writes /tmp/zoo-bench/mamba-130m, measures zoo
    python3 scripts/bench_torch_mamba.py /tmp/zoo-bench/mamba-130m --threads 2
"""
import argparse
import statistics
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("--prefill", type=int, default=512)
    p.add_argument("--decode", type=int, default=128)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = AutoModelForCausalLM.from_pretrained(a.checkpoint, torch_dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, vocab, (1, a.prefill), generator=g)
    prefill_rates, decode_rates = [], []
    with torch.inference_mode():
        for run in range(a.runs + 1):
            t0 = time.perf_counter()
            out = model(prompt, use_cache=True, logits_to_keep=1)
            t1 = time.perf_counter()
            cache = out.cache_params
            token = out.logits[:, -1:].argmax(-1)
            t2 = time.perf_counter()
            for i in range(a.decode):
                pos = torch.tensor([a.prefill + i])
                out = model(token, cache_params=cache, use_cache=True, cache_position=pos)
                cache = out.cache_params
                token = out.logits[:, -1:].argmax(-1)
            t3 = time.perf_counter()
            if run == 0:
                continue
            prefill_rates.append(a.prefill / (t1 - t0))
            decode_rates.append(a.decode / (t3 - t2))
            print(f"run {run}: prefill {prefill_rates[-1]:.1f} tok/s, decode {decode_rates[-1]:.1f} tok/s")
    print(f"transformers {model.config.model_type} {a.checkpoint}, {a.threads} threads: "
          f"prefill {a.prefill} tokens {statistics.median(prefill_rates):.1f} tok/s, "
          f"decode {a.decode} tokens {statistics.median(decode_rates):.1f} tok/s (median of {a.runs})")


if __name__ == "__main__":
    main()
