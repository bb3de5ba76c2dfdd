#!/usr/bin/env python3
"""Train zoo's star-graph planning models: insertion LM (ILM) vs autoregressive vs masked diffusion.

Reproduces, at small scale on CPU, the star-graph claim of Patel et al., "Insertion Language
Models" (arXiv 2505.05755, Table 1: ILM 100 / 99.1 exact match on easy / hard; hard AR 23.0,
MDM 21.0). Data: training/star_graph.py (byte-level text, prompt "ab,bc,.../ad=", answer the
path "abcd"); 50k training graphs regenerated from a seed, 500 held-out test graphs in
training/data/star-<task>-test.jsonl (never trained on).

Objectives (same width/depth, ~0.9M parameters each, same --time-limit):
  ilm  training/archs/ilm.py (RotaryTransformerILMModelWithStoppingClassification layout),
       denoising-by-deletion loss + stop head. Sequence [CLS][BOS] prompt answer; only the
       answer (path) tokens may be deleted, like the official star ILM collator
       (pcdd.datamodule.datamodule.DefaultILMCollator drops only token_type_ids > 1, i.e.
       non-prefix tokens). The official StarGraphILMCollator sets constraint = roll(type <= 1,
       -1): every prefix slot is constrained except the last prefix token (their BOS right
       before the path; here the final "=" of the prompt), so insertions go only after the
       prompt's last token or after answer tokens. As in the official star run, the loss keeps
       the prompt slots in its softmax (masks only padding and deleted tokens); the constraint
       is applied when decoding. Exported with export_ilm -> zoo decoder "ilm".
  ar   training/archs/llada.py causal (LlamaForCausalLM layout), next-token CE on answer + EOS
       (id 0), exported with export_llama -> zoo decoder "ar".
  mdm  training/archs/llada.py bidirectional (LLaDA layout), LLaDA SFT masked-diffusion loss on
       the gen region = answer + EOS padding up to gen_length = longest answer + 1; prompt never
       masked; exported with export_llada -> zoo decoder "llada" (gen_length fixed, block =
       gen_length, steps = gen_length).

Evaluation: exact match of the greedy reference decoders on the held-out test set (ilm:
training/archs/ilm.py ilm_greedy, one insertion per forward pass; ar: greedy until EOS; mdm:
LLaDA low-confidence remasking, temperature 0, one token per step). A learning curve (test
accuracy on the first --curve-size test graphs every --eval-every steps) goes into zoo.json.

    python training/train_star.py --task easy --objective ilm --time-limit 720 --out models/ilm-star-easy
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
from archs.ilm import (ILM, ILMConfig, CLS_ID, BOS_ID, PAD_ID, export_ilm, ilm_greedy, ilm_loss,  # noqa: E402
                       load_ilm)
from archs.llada import LLaDA, LLaDAConfig, export_llada, export_llama  # noqa: E402
import star_graph  # noqa: E402

EOS = 0          # llada.py / Llama baselines: EOS = PAD = 0
MDM_MASK = 255   # llada.py mask id


def to_ids(s):
    return list(s.encode("latin-1"))


# ----------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------

def ilm_batch(examples):
    seqs = [[CLS_ID, BOS_ID] + to_ids(p) + to_ids(a) for p, a in examples]
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), PAD_ID)
    droppable = torch.zeros(len(seqs), L, dtype=torch.bool)
    for i, ((p, a), s) in enumerate(zip(examples, seqs)):
        ids[i, :len(s)] = torch.tensor(s)
        droppable[i, 2 + len(p):len(s)] = True
    return ids, ids != PAD_ID, droppable


def ar_batch(examples):
    """ids [B, L] (prompt answer EOS, right-padded with 0) and a loss mask over targets."""
    seqs = [to_ids(p) + to_ids(a) + [EOS] for p, a in examples]
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), EOS)
    tgt_mask = torch.zeros(len(seqs), L, dtype=torch.bool)
    for i, ((p, a), s) in enumerate(zip(examples, seqs)):
        ids[i, :len(s)] = torch.tensor(s)
        tgt_mask[i, len(p):len(s)] = True
    return ids, tgt_mask


def mdm_batch(examples, gen_len):
    """prompt + answer + EOS to gen_len; right-padded (key mask); gen-region mask."""
    seqs = [to_ids(p) + to_ids(a) + [EOS] * (gen_len - len(a)) for p, a in examples]
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), EOS)
    real = torch.zeros(len(seqs), L, dtype=torch.bool)
    gen = torch.zeros(len(seqs), L, dtype=torch.bool)
    for i, ((p, a), s) in enumerate(zip(examples, seqs)):
        ids[i, :len(s)] = torch.tensor(s)
        real[i, :len(s)] = True
        gen[i, len(p):len(s)] = True
    return ids, real, gen


def llada_forward_masked(model, ids, key_mask, causal=False):
    """Same math as LLaDA.forward (training/archs/llada.py) plus a key-padding mask, so batches
    of different prompt lengths can be right-padded; padded keys are invisible, which equals
    running each sequence alone (positions of real tokens are unchanged)."""
    from archs.llada import rotate_half
    c = model.config
    t = model.model.transformer
    B, T = ids.shape
    sin, cos = model.rope_sin[:T], model.rope_cos[:T]
    x = t.wte(ids)
    mask = key_mask[:, None, None, :]
    if causal:
        mask = mask & torch.ones(T, T, dtype=torch.bool).tril()[None, None]
    for blk in t.blocks:
        h = blk.attn_norm(x)
        q = blk.q_proj(h).view(B, T, c.n_heads, c.head_dim).transpose(1, 2)
        k = blk.k_proj(h).view(B, T, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = blk.v_proj(h).view(B, T, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + blk.attn_out(a.transpose(1, 2).reshape(B, T, c.d_model))
        h = blk.ff_norm(x)
        x = x + blk.ff_out(F.silu(blk.ff_proj(h)) * blk.up_proj(h))
    return t.ff_out(t.ln_f(x))


# ----------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------

def ar_loss(model, examples):
    ids, tgt = ar_batch(examples)
    logits = model(ids[:, :-1], causal=True)
    m = tgt[:, 1:]
    return F.cross_entropy(logits[m], ids[:, 1:][m])


def mdm_loss(model, examples, gen_len, gen, eps=1e-3):
    """LLaDA SFT: t ~ U(eps, 1]; each gen-region token masked w.p. t; CE/t summed / gen_len."""
    ids, real, region = mdm_batch(examples, gen_len)
    B = ids.shape[0]
    t = (1 - eps) * torch.rand(B, generator=gen) + eps
    masked = region & (torch.rand(ids.shape, generator=gen) < t[:, None])
    noisy = torch.where(masked, torch.full_like(ids, MDM_MASK), ids)
    logits = llada_forward_masked(model, noisy, real)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1), reduction="none").view(B, -1)
    return ((ce * masked) / t[:, None]).sum() / (B * gen_len)


# ----------------------------------------------------------------------------
# Decoders (reference, greedy)
# ----------------------------------------------------------------------------

def by_prompt_length(examples, max_batch=256):
    """Groups of indices with equal prompt length (no padding needed for AR / MDM decoding)."""
    groups = {}
    for i, (p, _) in enumerate(examples):
        groups.setdefault(len(p), []).append(i)
    for idx in groups.values():
        for k in range(0, len(idx), max_batch):
            yield idx[k:k + max_batch]


def answer_text(tokens):
    return bytes(int(t) for t in tokens).split(b"\x00", 1)[0].decode("latin-1")


@torch.no_grad()
def ar_decode(model, examples, max_new):
    outs = [None] * len(examples)
    for idx in by_prompt_length(examples):
        x = torch.tensor([to_ids(examples[i][0]) for i in idx])
        P = x.shape[1]
        for _ in range(max_new):
            nxt = model(x, causal=True)[:, -1].argmax(-1, keepdim=True)
            x = torch.cat([x, nxt], 1)
            if (x[:, P:] == EOS).any(1).all():
                break
        for j, i in enumerate(idx):
            outs[i] = answer_text(x[j, P:])
    return outs


@torch.no_grad()
def mdm_decode(model, examples, gen_len, steps=None, record=False):
    """LLaDA low-confidence remasking, temperature 0, one block of gen_len, `steps` steps."""
    steps = steps or gen_len
    base, rem = divmod(gen_len, steps)
    counts = [base + (1 if i < rem else 0) for i in range(steps)]
    outs, orders = [None] * len(examples), [None] * len(examples)
    for idx in by_prompt_length(examples):
        pr = torch.tensor([to_ids(examples[i][0]) for i in idx])
        N, P = pr.shape
        x = torch.cat([pr, torch.full((N, gen_len), MDM_MASK)], 1)
        step_of = torch.full((N, gen_len), -1)
        for s, k in enumerate(counts):
            is_mask = x == MDM_MASK
            logits = model(x, causal=False)
            x0 = logits.argmax(-1)
            conf = torch.softmax(logits.double(), -1).gather(-1, x0[..., None]).squeeze(-1)
            x0 = torch.where(is_mask, x0, x)
            conf = torch.where(is_mask, conf, torch.full_like(conf, -math.inf))
            sel = conf.topk(k, dim=-1).indices
            x.scatter_(1, sel, x0.gather(1, sel))
            step_of.scatter_(1, sel - P, torch.full_like(sel, s))
        for j, i in enumerate(idx):
            outs[i] = answer_text(x[j, P:])
            orders[i] = step_of[j].tolist()
    return (outs, orders) if record else outs


@torch.no_grad()
def ilm_decode(model, examples, stop_threshold, max_steps, batch=250, return_steps=False):
    outs, steps = [], []
    for k in range(0, len(examples), batch):
        chunk = examples[k:k + batch]
        o, s = ilm_greedy(model, [to_ids(p) for p, _ in chunk], stop_threshold=stop_threshold,
                          max_steps=max_steps, return_steps=True)
        for (p, _), seq in zip(chunk, o):
            text = bytes(seq).decode("latin-1")
            outs.append(text[len(p):] if text.startswith(p) else "\x00BAD:" + text)
        steps += s
    return (outs, steps) if return_steps else outs


def evaluate(model, args, examples, meta):
    model.eval()
    t0 = time.time()
    extra = {}
    if args.objective == "ilm":
        preds, steps = ilm_decode(model, examples, args.stop_threshold, meta["max_steps"], return_steps=True)
        extra["mean_forward_passes"] = round(sum(steps) / len(steps), 3)
    elif args.objective == "ar":
        preds = ar_decode(model, examples, meta["max_new_tokens"])
    else:
        preds = mdm_decode(model, examples, meta["gen_length"])
    exact = sum(p == a for p, (_, a) in zip(preds, examples)) / len(examples)
    valid = sum(star_graph.check_path(q, p) for p, (q, _) in zip(preds, examples)) / len(examples)
    model.train()
    return {"exact_match": exact, "valid_path": valid, "n": len(examples),
            "seconds": round(time.time() - t0, 1), **extra}, preds


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=["easy", "hard"], required=True)
    ap.add_argument("--objective", choices=["ilm", "ar", "mdm"], required=True)
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=100000, help="upper bound; --time-limit usually stops first")
    ap.add_argument("--time-limit", type=float, default=720, help="training seconds (evaluation excluded)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--n-layers", type=int, default=4)
    ap.add_argument("--ff", type=int, default=None, help="ILM ReLU MLP width (default 4 d) / LLaDA SwiGLU width (default 3 d)")
    ap.add_argument("--train-size", type=int, default=star_graph.TRAIN_SIZE)
    ap.add_argument("--stop-threshold", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init-from", default=None, help="ILM only: start from the weights of this exported folder")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--curve-size", type=int, default=200)
    ap.add_argument("--log-every", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    name = {"ilm": "ilm", "ar": "ar", "mdm": "mdm"}[args.objective]
    out = os.path.normpath(args.out or os.path.join(HERE, "..", "models", f"{name}-star-{args.task}"))

    test = star_graph.write_or_check_test(args.task)
    train, _ = star_graph.train_examples(args.task, args.train_size, test=test)
    max_prompt = max(len(p) for p, _ in train + test)
    max_answer = max(len(a) for _, a in train + test)
    meta = {"max_prompt_bytes": max_prompt, "max_answer_bytes": max_answer}

    if args.objective == "ilm":
        cfg = ILMConfig(d_model=args.d_model, num_layers=args.n_layers, nhead=args.n_heads,
                        dim_feedforward=args.ff or 4 * args.d_model, rotary_emb_dim=args.d_model // args.n_heads,
                        max_length=2 + max_prompt + max_answer + 8)
        model = ILM(cfg)
        if args.init_from:
            from safetensors.torch import load_file
            model.load_state_dict(load_file(os.path.join(args.init_from, "model.safetensors")))
            print(f"initialised from {args.init_from}", flush=True)
        meta["max_steps"] = max_answer + 4
    else:
        gen_len = max_answer + 1
        cfg = LLaDAConfig(d_model=args.d_model, n_heads=args.n_heads, n_kv_heads=args.n_heads,
                          n_layers=args.n_layers, mlp_hidden_size=args.ff or 3 * args.d_model,
                          max_sequence_length=max_prompt + gen_len + 8, causal=(args.objective == "ar"))
        model = LLaDA(cfg)
        meta["gen_length"] = gen_len
        meta["max_new_tokens"] = max_answer + 1
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.task}/{args.objective}: {n_params:,} parameters; train {len(train)}, test {len(test)}; "
          f"prompt <= {max_prompt}, answer <= {max_answer}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n and "wte" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n and "wte" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))
    gen = torch.Generator().manual_seed(args.seed)

    def lr_at(step, elapsed):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        prog = max(step / args.steps, elapsed / args.time_limit if args.time_limit else 0.0)
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0, prog)))

    curve, loss_log = [], []
    curve_set = test[:args.curve_size]
    order = torch.randperm(len(train), generator=gen).tolist()
    cursor, ema, train_time, step = 0, None, 0.0, 0
    model.train()
    while step < args.steps:
        t_step = time.time()
        if cursor + args.batch_size > len(order):
            order = torch.randperm(len(train), generator=gen).tolist()
            cursor = 0
        batch = [train[i] for i in order[cursor:cursor + args.batch_size]]
        cursor += args.batch_size
        for g in opt.param_groups:
            g["lr"] = lr_at(step, train_time)
        if args.objective == "ilm":
            ids, non_pad, droppable = ilm_batch(batch)
            loss, tok, stp = ilm_loss(model, ids, non_pad, droppable, gen=gen, return_parts=True)
        elif args.objective == "ar":
            loss = ar_loss(model, batch)
        else:
            loss = mdm_loss(model, batch, meta["gen_length"], gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        train_time += time.time() - t_step
        v = loss.item()
        ema = v if ema is None else 0.98 * ema + 0.02 * v
        if step % args.log_every == 0 or step == 1:
            extra = f" (tok {tok.item():.4f} stop {stp.item():.4f})" if args.objective == "ilm" else ""
            loss_log.append({"step": step, "loss": round(v, 4), "ema": round(ema, 4), "seconds": round(train_time)})
            print(f"step {step:6d} loss {v:.4f}{extra} ema {ema:.4f} lr {lr_at(step, train_time):.2e} "
                  f"{train_time:.0f}s", flush=True)
        done = args.time_limit and train_time > args.time_limit
        if args.eval_every and step % args.eval_every == 0 and not done:
            r, _ = evaluate(model, args, curve_set, meta)
            curve.append({"step": step, "train_seconds": round(train_time), "loss_ema": round(ema, 4), **r})
            print(f"  eval@{step} ({len(curve_set)} test graphs): {json.dumps(r)}", flush=True)
        if done:
            print(f"time limit reached at step {step}", flush=True)
            break

    model.eval()
    results, preds = evaluate(model, args, test, meta)
    curve.append({"step": step, "train_seconds": round(train_time), "loss_ema": round(ema, 4),
                  **{k: v for k, v in results.items()}, "final_full_test": True})
    print(f"final test ({len(test)} graphs): {json.dumps(results)}", flush=True)

    # export
    if args.objective == "ilm":
        export_ilm(model, out)
        m2 = load_ilm(out)
        ids, non_pad, _ = ilm_batch(test[:4])
        assert torch.equal(m2(ids, non_pad)[0], model(ids, non_pad)[0]), "reloaded ILM differs"
    elif args.objective == "ar":
        export_llama(model, out)
        try:
            from archs.llada import check_llama
            check_llama(model, out)
        except ImportError as e:
            print(f"(transformers check skipped: {e})")
    else:
        export_llada(model, out)
        try:
            from archs.llada import check_llada
            check_llada(model, out)
        except Exception as e:  # noqa: BLE001
            print(f"(Fast-dLLM check skipped: {e})")

    # reference outputs for zoo's end-to-end tests
    ref_ex = test[:8]
    refs = []
    if args.objective == "ilm":
        outs, steps = ilm_decode(model, ref_ex, args.stop_threshold, meta["max_steps"], return_steps=True)
        for (p, a), o, s in zip(ref_ex, outs, steps):
            with torch.no_grad():
                ids = torch.tensor([[CLS_ID, BOS_ID] + to_ids(p)])
                lg, st = model(ids)
            refs.append({"prompt": p, "prompt_ids": to_ids(p), "answer": a, "greedy_insertions": o,
                         "greedy_text": p + o, "greedy_ids": to_ids(p + o), "correct": o == a,
                         "forward_passes": s,
                         "first_step_stop_prob": round(torch.softmax(st[0], -1)[0].item(), 6),
                         "first_step_stop_logits": [round(v, 5) for v in st[0].tolist()],
                         "first_step_last_slot_top5": {
                             "ids": lg[0, -1].topk(5).indices.tolist(),
                             "logits": [round(v, 5) for v in lg[0, -1].topk(5).values.tolist()]}})
    elif args.objective == "ar":
        outs = ar_decode(model, ref_ex, meta["max_new_tokens"])
        for (p, a), o in zip(ref_ex, outs):
            with torch.no_grad():
                f = model(torch.tensor([to_ids(p)]), causal=True)[0, -1]
            top = f.topk(5)
            refs.append({"prompt": p, "prompt_ids": to_ids(p), "answer": a, "greedy": o,
                         "greedy_ids": to_ids(o) + [EOS], "correct": o == a,
                         "first_step_top5": {"ids": top.indices.tolist(),
                                             "logits": [round(v, 5) for v in top.values.tolist()]}})
    else:
        outs, orders = mdm_decode(model, ref_ex, meta["gen_length"], record=True)
        for (p, a), o, od in zip(ref_ex, outs, orders):
            refs.append({"prompt": p, "prompt_ids": to_ids(p), "answer": a, "greedy": o,
                         "answer_ids": to_ids(o) + [EOS] * (meta["gen_length"] - len(o)),
                         "correct": o == a, "commit_step": od, "steps": meta["gen_length"]})

    cmd = "python training/train_star.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = {
        "task": args.task,
        "objective": args.objective,
        "parameters": n_params,
        "steps": step,
        "batch_size": args.batch_size,
        "train_seconds": round(train_time),
        "final_train_loss_ema": round(ema, 4),
        "test_set": f"training/data/star-{args.task}-test.jsonl ({len(test)} graphs)",
        "test_accuracy": results,
        "learning_curve": curve,
        "machine": "CPU, torch.set_num_threads(1), shared 2-core machine",
        **meta,
    }
    task_desc = {"easy": "degree 3, path length 5, 20 node ids", "hard": "degree 5, arm lengths 6-12, min plan "
                 "length 5, 56 node ids"}[args.task]
    common = (f"star-graph path finding ({args.task}: {task_desc}); prompt 'ab,bc,.../ad=' (edges u->v, '/', "
              "source, goal, '='), answer the path's node characters ('abcd'); nodes are 0-9a-zA-Z.")
    if args.objective == "ilm":
        zoo = {"description": "Tiny insertion language model (ILM, Patel et al. 2025) for " + common +
                              " Decode with the ilm decoder: insertions only after the prompt's last byte and "
                              "after inserted bytes, stop when p(stop) >= stop_threshold.",
               "tokenizer": "bytes", "default_decoder": "ilm", "stop_threshold": args.stop_threshold,
               "max_steps": meta["max_steps"]}
    elif args.objective == "ar":
        zoo = {"description": "Tiny Llama (LlamaForCausalLM) trained autoregressively for " + common +
                              " Answer terminated by EOS (byte 0). The autoregressive baseline to ilm-star-" + args.task + ".",
               "tokenizer": "bytes", "default_decoder": "ar", "eos_token_id": EOS,
               "max_new_tokens": meta["max_new_tokens"]}
    else:
        zoo = {"description": "Tiny LLaDA-style masked-diffusion model for " + common +
                              f" Gen length {meta['gen_length']} (answer then EOS padding), low-confidence "
                              "remasking, one token per step. The masked-diffusion baseline to ilm-star-" + args.task + ".",
               "tokenizer": "bytes", "default_decoder": "llada", "mask_token_id": MDM_MASK, "eos_token_id": EOS,
               "gen_length": meta["gen_length"], "block_length": meta["gen_length"],
               "default_steps": meta["gen_length"]}
    zoo["license"] = "Weights trained by the zoo project on synthetic star graphs; public domain."
    zoo["training"] = cmd
    zoo["results"] = summary
    with open(os.path.join(out, "zoo.json"), "w") as f:
        json.dump(zoo, f, indent=2)
        f.write("\n")
    reference = {
        "description": "Greedy outputs of the PyTorch reference decoder (float32, CPU) on the first test graphs. "
                       "Token ids are byte values. " +
                       {"ilm": "ILM layout [CLS=1][BOS=2] prompt; prompt constrained except its last byte; "
                               "slot = argmax logsumexp, token = argmax, special ids 0-4 masked.",
                        "ar": "Greedy until EOS (0).",
                        "mdm": "LLaDA low-confidence remasking, temperature 0, gen_length steps; commit_step "
                               "is the step at which each gen position was committed."}[args.objective],
        "implementation": f"torch {torch.__version__}, float32, CPU",
        **({"stop_threshold": args.stop_threshold, "max_steps": meta["max_steps"]} if args.objective == "ilm" else {}),
        **({"gen_length": meta["gen_length"]} if args.objective == "mdm" else {}),
        "prompts": refs,
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
