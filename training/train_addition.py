#!/usr/bin/env python3
"""Train zoo's two small "a+b=" addition models: masked diffusion (LLaDA) vs autoregressive (Llama).

Task. a, b uniform in 0..9999, written as zero-padded 4-digit numbers; the prompt is the 10
bytes "0123+4567=", the answer the 5-digit zero-padded sum, most significant digit first
("04690"), followed by 3 EOS bytes (id 0), so every sequence is 10 prompt + 8 answer = 18
tokens. Vocabulary: 256 byte ids (token id = byte value, no tokenizer file); EOS = PAD = 0;
the diffusion model's [MASK] is id 255 (never in the data). No BOS.

Network (both objectives): training/archs/llada.py, d_model 128, 4 heads, 4 layers, SwiGLU
MLP 384, RoPE, RMSNorm, untied output (~0.86M parameters).

  --objective diffusion  -> models/llada-addition  (LLaDA layout, model_type llada)
      bidirectional attention; masked-diffusion SFT loss on the answer only (LLaDA's SFT
      recipe): t ~ U(eps, 1], each of the 8 answer tokens replaced by [MASK] with
      probability t, loss = sum over masked answer positions of CE / t, divided by the
      answer length (8); the prompt is never masked.
  --objective ar         -> models/llama-addition  (transformers LlamaForCausalLM layout)
      causal attention; next-token CE on the 8 answer positions (predicted from positions 9..16).

Data. Every step draws fresh problems from a seeded torch generator (seed --seed); any
(a, b) that is in the held-out test set is redrawn, so the 500 test problems
(training/data/addition-test.jsonl, numpy default_rng(20260605), written by this script if
absent and checked if present) are never trained on.

Evaluation (on the test set, float32, batched):
  ar        greedy decoding of 8 tokens.
  diffusion LLaDA's low-confidence remasking (ML-GSAI/LLaDA generate.py, temperature 0):
            prompt + 8 [MASK], block 8, `steps` steps committing 8/steps tokens each, the
            most confident masked positions first; steps = 8, 4, 2 (and 1).
  An answer is correct when the decoded bytes up to the first EOS equal the 5-digit sum.

Writes config.json, model.safetensors, zoo.json and reference.json into --out.
Verifies the saved files: the llada folder is loaded into Fast-dLLM's official
LLaDAModelLM and the llama folder into transformers' LlamaForCausalLM; logits must match
this script's model to 1e-4.

    python training/train_addition.py --objective diffusion
    python training/train_addition.py --objective ar
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
from archs.llada import LLaDA, LLaDAConfig, check_llada, check_llama, export_llada, export_llama  # noqa: E402

TEST_PATH = os.path.join(HERE, "data", "addition-test.jsonl")
TEST_SEED = 20260605
TEST_SIZE = 500
PROMPT_LEN, ANSWER_LEN = 10, 8
SEQ_LEN = PROMPT_LEN + ANSWER_LEN
EOS, MASK = 0, 255
DIGITS = torch.tensor([ord(c) for c in "0123456789"])
REFERENCE_PROBLEMS = [(123, 4567), (9999, 9999), (0, 0), (5000, 5000), (1234, 8766)]


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------

def encode(a, b):
    """a, b: int64 tensors [N] -> token ids [N, 18] (prompt bytes, 5 sum digits, 3 EOS)."""
    def digits(x, n):
        p = 10 ** torch.arange(n - 1, -1, -1)
        return DIGITS[(x[:, None] // p) % 10]
    n = a.shape[0]
    plus = torch.full((n, 1), ord("+"))
    eq = torch.full((n, 1), ord("="))
    eos = torch.full((n, ANSWER_LEN - 5), EOS)
    return torch.cat([digits(a, 4), plus, digits(b, 4), eq, digits(a + b, 5), eos], dim=1)


def test_problems():
    rng = np.random.default_rng(TEST_SEED)
    pairs, seen = [], set()
    while len(pairs) < TEST_SIZE:
        a, b = (int(v) for v in rng.integers(0, 10000, size=2))
        if (a, b) not in seen:
            seen.add((a, b))
            pairs.append((a, b))
    return pairs


def write_or_check_test_file():
    pairs = test_problems()
    lines = [json.dumps({"prompt": f"{a:04d}+{b:04d}=", "answer": f"{a + b:05d}"}) + "\n" for a, b in pairs]
    if os.path.exists(TEST_PATH):
        with open(TEST_PATH) as f:
            if f.readlines() != lines:
                raise SystemExit(f"{TEST_PATH} differs from what seed {TEST_SEED} generates")
    else:
        os.makedirs(os.path.dirname(TEST_PATH), exist_ok=True)
        with open(TEST_PATH, "w") as f:
            f.writelines(lines)
    return pairs


def train_batch(gen, batch, test_keys):
    """Fresh uniform problems; any (a, b) in the test set is redrawn."""
    a = torch.randint(0, 10000, (batch,), generator=gen)
    b = torch.randint(0, 10000, (batch,), generator=gen)
    while True:
        hit = torch.isin(a * 10000 + b, test_keys)
        if not hit.any():
            break
        k = int(hit.sum())
        a[hit] = torch.randint(0, 10000, (k,), generator=gen)
        b[hit] = torch.randint(0, 10000, (k,), generator=gen)
    return encode(a, b)


# ----------------------------------------------------------------------------
# Objectives
# ----------------------------------------------------------------------------

def diffusion_loss(model, x, gen, eps=1e-3):
    """LLaDA SFT: mask answer tokens with prob t ~ U(eps, 1]; CE on masked answer tokens / t / answer length."""
    B = x.shape[0]
    t = (1 - eps) * torch.rand(B, generator=gen) + eps
    masked = torch.zeros_like(x, dtype=torch.bool)
    masked[:, PROMPT_LEN:] = torch.rand(B, ANSWER_LEN, generator=gen) < t[:, None]
    noisy = torch.where(masked, torch.full_like(x, MASK), x)
    logits = model(noisy, causal=False)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1), reduction="none").view(B, -1)
    return ((ce * masked) / t[:, None]).sum() / (B * ANSWER_LEN)


def ar_loss(model, x):
    logits = model(x[:, :-1], causal=True)[:, PROMPT_LEN - 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, PROMPT_LEN:].reshape(-1))


# ----------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------

@torch.no_grad()
def ar_greedy(model, prompts, logits_fn=None):
    """prompts [N, 10] -> 8 greedy tokens [N, 8] (recomputes the whole prefix each step)."""
    logits_fn = logits_fn or (lambda ids: model(ids, causal=True))
    x = prompts
    for _ in range(ANSWER_LEN):
        nxt = logits_fn(x)[:, -1].argmax(-1, keepdim=True)
        x = torch.cat([x, nxt], dim=1)
    return x[:, PROMPT_LEN:]


@torch.no_grad()
def llada_decode(model, prompts, steps, block=ANSWER_LEN, logits_fn=None, record=False):
    """LLaDA low-confidence remasking, temperature 0 (ML-GSAI/LLaDA generate.py).

    Returns the answer tokens [N, 8] and, with record, per row the order in which the answer
    positions were committed ([N, 8] step index of each position)."""
    logits_fn = logits_fn or (lambda ids: model(ids, causal=False))
    N = prompts.shape[0]
    x = torch.cat([prompts, torch.full((N, ANSWER_LEN), MASK)], dim=1)
    assert ANSWER_LEN % block == 0 and steps % (ANSWER_LEN // block) == 0
    n_blocks = ANSWER_LEN // block
    per_block = steps // n_blocks
    step_of = torch.full((N, ANSWER_LEN), -1)
    step = 0
    for nb in range(n_blocks):
        lo, hi = PROMPT_LEN + nb * block, PROMPT_LEN + (nb + 1) * block
        # get_num_transfer_tokens: even split, remainder to the first steps
        base, rem = divmod(block, per_block)
        counts = [base + (1 if i < rem else 0) for i in range(per_block)]
        for k in counts:
            is_mask = x == MASK
            logits = logits_fn(x)
            x0 = logits.argmax(-1)
            p = torch.softmax(logits.double(), dim=-1)
            conf = torch.gather(p, -1, x0[..., None]).squeeze(-1)
            conf[:, hi:] = -math.inf
            x0 = torch.where(is_mask, x0, x)
            conf = torch.where(is_mask, conf, torch.full_like(conf, -math.inf))
            idx = conf.topk(k, dim=-1).indices
            x.scatter_(1, idx, x0.gather(1, idx))
            step_of.scatter_(1, idx - PROMPT_LEN, torch.full_like(idx, step))
            step += 1
    ans = x[:, PROMPT_LEN:]
    return (ans, step_of) if record else ans


def answer_text(tokens):
    b = bytes(int(t) for t in tokens)
    return b.split(b"\x00", 1)[0].decode("latin-1")


def accuracy(pred, pairs):
    ok = [answer_text(p) == f"{a + b:05d}" for p, (a, b) in zip(pred, pairs)]
    digit_ok = [sum(x == y for x, y in zip(answer_text(p)[:5].ljust(5), f"{a + b:05d}")) for p, (a, b) in zip(pred, pairs)]
    return sum(ok) / len(ok), sum(digit_ok) / (5 * len(ok))


def prompts_of(pairs):
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    return encode(a, b)[:, :PROMPT_LEN]


def evaluate(model, objective, pairs):
    model.eval()
    prompts = prompts_of(pairs)
    res = {}
    if objective == "ar":
        acc, dacc = accuracy(ar_greedy(model, prompts), pairs)
        res["greedy"] = {"exact_match": acc, "digit_accuracy": dacc}
    else:
        for steps in (8, 4, 2, 1):
            acc, dacc = accuracy(llada_decode(model, prompts, steps), pairs)
            res[f"steps{steps}"] = {"steps": steps, "gen_length": ANSWER_LEN, "block_length": ANSWER_LEN,
                                    "exact_match": acc, "digit_accuracy": dacc}
    model.train()
    return res


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * p))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objective", choices=["diffusion", "ar"], required=True)
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--n-layers", type=int, default=4)
    ap.add_argument("--mlp", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--time-limit", type=float, default=0,
                    help="stop training after this many seconds (0: none); the run then is not reproducible")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    out = args.out or os.path.join(HERE, "..", "models",
                                   "llada-addition" if args.objective == "diffusion" else "llama-addition")
    out = os.path.normpath(out)

    pairs = write_or_check_test_file()
    test_keys = torch.tensor([a * 10000 + b for a, b in pairs])

    config = LLaDAConfig(d_model=args.d_model, n_heads=args.n_heads, n_kv_heads=args.n_heads,
                         n_layers=args.n_layers, mlp_hidden_size=args.mlp, causal=(args.objective == "ar"))
    model = LLaDA(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.objective}: {n_params:,} parameters", flush=True)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(args.seed)

    loss_log, eval_log, ema = [], [], None
    t0 = time.time()
    model.train()
    steps_done = 0
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        x = train_batch(gen, args.batch_size, test_keys)
        loss = diffusion_loss(model, x, gen) if args.objective == "diffusion" else ar_loss(model, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        v = loss.item()
        ema = v if ema is None else 0.98 * ema + 0.02 * v
        if steps_done % args.log_every == 0 or steps_done == 1:
            el = time.time() - t0
            loss_log.append({"step": steps_done, "loss": round(v, 4), "ema": round(ema, 4), "seconds": round(el)})
            print(f"step {steps_done:5d} loss {v:.4f} ema {ema:.4f} lr {lr_at(step, args):.2e} {el:.0f}s", flush=True)
        if args.eval_every and steps_done % args.eval_every == 0 and steps_done < args.steps:
            r = evaluate(model, args.objective, pairs[:200])
            eval_log.append({"step": steps_done, "ema": round(ema, 4), "test200": r})
            print(f"  eval@{steps_done} (200 test problems): {json.dumps(r)}", flush=True)
        if args.time_limit and time.time() - t0 > args.time_limit:
            print(f"time limit reached at step {steps_done}", flush=True)
            break
    train_seconds = time.time() - t0

    model.eval()
    # final loss: mean over 20 fixed fresh batches (seed 99, test problems excluded)
    g2 = torch.Generator().manual_seed(99)
    with torch.no_grad():
        ls = []
        for _ in range(20):
            x = train_batch(g2, args.batch_size, test_keys)
            ls.append((diffusion_loss(model, x, g2) if args.objective == "diffusion" else ar_loss(model, x)).item())
    final_loss = sum(ls) / len(ls)
    t1 = time.time()
    results = evaluate(model, args.objective, pairs)
    eval_seconds = time.time() - t1
    print(f"final loss {final_loss:.4f}; test accuracy: {json.dumps(results)}", flush=True)

    # save + verify with the official implementations
    if args.objective == "diffusion":
        export_llada(model, out)
        check_llada(model, out)
    else:
        export_llama(model, out)
        check_llama(model, out)

    # reference outputs
    prompts = prompts_of(REFERENCE_PROBLEMS)
    refs = []
    if args.objective == "ar":
        from transformers import LlamaForCausalLM
        hf = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
        ours = ar_greedy(model, prompts)
        theirs = ar_greedy(None, prompts, lambda ids: hf(input_ids=ids, use_cache=False).logits)
        gen_ids = hf.generate(prompts, max_new_tokens=ANSWER_LEN, do_sample=False, eos_token_id=None,
                              pad_token_id=EOS)[:, PROMPT_LEN:]
        assert torch.equal(ours, theirs) and torch.equal(ours, gen_ids), "greedy outputs disagree"
        with torch.no_grad():
            first = model(prompts, causal=True)[:, -1]
        for (a, b), p, o, f in zip(REFERENCE_PROBLEMS, prompts, ours, first):
            top = f.topk(5)
            refs.append({"prompt": f"{a:04d}+{b:04d}=", "prompt_ids": p.tolist(), "greedy_ids": o.tolist(),
                         "answer": answer_text(o), "correct": answer_text(o) == f"{a + b:05d}",
                         "first_step_top5": {"ids": top.indices.tolist(),
                                             "logits": [round(v, 5) for v in top.values.tolist()]}})
    else:
        for (a, b), p in zip(REFERENCE_PROBLEMS, prompts):
            rec = {"prompt": f"{a:04d}+{b:04d}=", "prompt_ids": p.tolist()}
            for steps in (8, 4, 2):
                ans, order = llada_decode(model, p[None], steps, record=True)
                rec[f"steps{steps}"] = {"answer_ids": ans[0].tolist(), "answer": answer_text(ans[0]),
                                        "correct": answer_text(ans[0]) == f"{a + b:05d}",
                                        "commit_step": order[0].tolist()}
            with torch.no_grad():
                x = torch.cat([p[None], torch.full((1, ANSWER_LEN), MASK)], dim=1)
                lg = model(x, causal=False)[0, PROMPT_LEN:]
            rec["all_masked_argmax"] = lg.argmax(-1).tolist()
            rec["all_masked_max_prob"] = [round(v, 5) for v in torch.softmax(lg, -1).max(-1).values.tolist()]
            refs.append(rec)

    cmd = "training/train_addition.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = {
        "parameters": n_params,
        "steps": steps_done,
        "batch_size": args.batch_size,
        "final_loss": round(final_loss, 4),
        "final_train_loss_ema": round(ema, 4),
        "train_seconds": round(train_seconds),
        "eval_seconds": round(eval_seconds, 1),
        "test_set": "training/data/addition-test.jsonl (500 problems)",
        "test_accuracy": results,
    }
    if args.objective == "diffusion":
        zoo = {
            "description": "Tiny LLaDA-style masked-diffusion model (bidirectional Llama-type transformer) trained "
                           "to add two 4-digit numbers: prompt '0123+4567=' (10 bytes), answer the 5-digit sum "
                           "then EOS padding to 8 tokens. Decode with LLaDA low-confidence remasking, gen length 8.",
            "tokenizer": "bytes",
            "default_decoder": "llada",
            "mask_token_id": MASK,
            "eos_token_id": EOS,
            "gen_length": ANSWER_LEN,
            "block_length": ANSWER_LEN,
            "default_steps": ANSWER_LEN,
        }
    else:
        zoo = {
            "description": "Tiny Llama (LlamaForCausalLM) trained autoregressively to add two 4-digit numbers: "
                           "prompt '0123+4567=' (10 bytes), answer the 5-digit sum then EOS. Same network size "
                           "as llada-addition; the autoregressive baseline.",
            "tokenizer": "bytes",
            "default_decoder": "ar",
            "eos_token_id": EOS,
            "max_new_tokens": ANSWER_LEN,
        }
    zoo["license"] = "Weights trained by the zoo project on synthetic arithmetic; public domain."
    zoo["training"] = cmd
    zoo["results"] = summary
    with open(os.path.join(out, "zoo.json"), "w") as f:
        json.dump(zoo, f, indent=2)
        f.write("\n")
    reference = {
        "description": ("Outputs of the PyTorch model in float32 on CPU. Token ids are byte values; no BOS. "
                        + ("Greedy decoding of 8 tokens (also checked against transformers' generate)."
                           if args.objective == "ar" else
                           "LLaDA low-confidence remasking, temperature 0, gen 8, block 8; commit_step gives the "
                           "step at which each answer position was committed. all_masked_*: logits' argmax and "
                           "max probability at the 8 answer positions with all of them masked.")),
        "implementation": f"torch {torch.__version__}, float32, CPU",
        "mask_token_id": MASK if args.objective == "diffusion" else None,
        "eos_token_id": EOS,
        **summary,
        "loss_log": loss_log,
        "eval_log": eval_log,
        "prompts": refs,
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
