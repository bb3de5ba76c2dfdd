#!/usr/bin/env python3
"""Writes the `mamba-hf` (Mamba-1) and `mamba2-hf` (Mamba-2 / SSD) fixtures with Hugging Face transformers.

The official code is transformers 5.23.0 from PyPI, imported, not copied: `MambaForCausalLM`
in transformers/models/mamba/modeling_mamba.py and `Mamba2ForCausalLM` in
transformers/models/mamba2/modeling_mamba2.py. mamba_ssm and causal_conv1d are not
installed, so transformers takes its pure-PyTorch paths: for sequences a sequential
selective scan (Mamba-1) or the chunked SSD scan, chunk_size 8 (Mamba-2); for single-token
steps the recurrent state update. CPU, float32, eval mode, one torch thread. Both models:
vocab 256, hidden 64, 2 layers, state 16, expand 2, conv kernel 4, tied head.

Each of <out>/mamba-hf and <out>/mamba2-hf gets, with T its sequence length:

  config.json, generation_config.json, model.safetensors
                         save_pretrained, unmodified (tied head: no lm_head.weight)
  io.safetensors         input_ids [1, T] (int64) and, float32:
                         logits [1, T, 256]                    model(ids, use_cache=False)
                         step_logits [1, T, 256]               one token per call, carrying the cache
                         prefill12_decode_logits [1, T, 256]   12-token prefill, then T - 12 single-token calls
                         final_conv_state.{0,1}                cache after model(ids, use_cache=True)
                         final_ssm_state.{0,1}                 (same cache)

  mamba-hf    MambaForCausalLM, T = 24: final_conv_state [1, 128, 4], final_ssm_state [1, 128, 16]
  mamba2-hf   Mamba2ForCausalLM (8 heads of 16, n_groups 1), T = 21 (not a multiple of
              chunk_size; the ids are the first 21 of mamba-hf's): final_conv_state [1, 160, 4],
              final_ssm_state [1, 8, 16, 16] ([batch, head, head_dim, state])

The HF default init is kept (torch.manual_seed(0)) except for the parameters it sets to
constants or to a narrow range; those are re-drawn from torch.Generator seed 1 so that a
port which ignores them fails and the SSM state keeps a long memory. For each folder it also
prints the max abs differences between the official paths that bear on test tolerances.

Used: torch 2.15.0 (CPU), transformers 5.23.0, safetensors 0.8.0.

Run from anywhere (the output root defaults to Tests/Fixtures, the folder above this file's;
give a scratch folder to compare against the committed files):

  python3 Tests/Fixtures/mamba-hf/make_fixture.py [OUTPUT_ROOT]

which writes OUTPUT_ROOT/mamba-hf/ and OUTPUT_ROOT/mamba2-hf/.
"""
import argparse
import copy
import math
import os
from typing import Callable, NamedTuple

import torch
from safetensors.torch import save_file
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
PREFILL = 12
COMMON = dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, state_size=16, expand=2, conv_kernel=4,
              tie_word_embeddings=True)


class Family(NamedTuple):
    config: Callable          # the transformers config class, called with COMMON and `extra`
    model: Callable           # the ForCausalLM class
    extra: dict               # config arguments beyond COMMON
    T: int                    # sequence length
    dt_bias: str              # suffix of the parameter that holds softplus^-1 of dt
    conv_name: str            # what the conv cache holds, for the printout
    conv_channels: Callable   # mixer -> the in_proj output columns that the conv cache holds


# The HF conv cache holds these pre-conv in_proj columns of the last 4 tokens, oldest first.
FAMILIES = {
    "mamba-hf": Family(MambaConfig, MambaForCausalLM, {}, T=24, dt_bias="dt_proj.bias", conv_name="x",
                       # x: the first half of in_proj
                       conv_channels=lambda mixer: slice(0, mixer.intermediate_size)),
    "mamba2-hf": Family(Mamba2Config, Mamba2ForCausalLM,
                        dict(num_heads=8, head_dim=16, n_groups=1, chunk_size=8), T=21, dt_bias="dt_bias",
                        conv_name="xBC",  # xBC: in_proj columns [d_inner, d_inner + conv_dim)
                        conv_channels=lambda mixer: slice(mixer.intermediate_size,
                                                          mixer.intermediate_size + mixer.conv_dim)),
}


def build(family):
    torch.manual_seed(0)
    model = family.model(family.config(**COMMON, **family.extra)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or name.endswith("norm_f.weight"):  # also Mamba-2's gated mixer.norm
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("conv1d.bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("mixer.D"):
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=g))
            elif name.endswith("A_log"):  # A = -exp(A_log) in [-1, -0.05]
                p.copy_(torch.log(0.05 + 0.95 * torch.rand(p.shape, generator=g)))
            elif name.endswith(family.dt_bias):  # softplus^-1 of dt, log-uniform in [0.02, 0.5]
                u = torch.rand(p.shape, generator=g)
                dt = torch.exp(math.log(0.02) + u * (math.log(0.5) - math.log(0.02)))
                p.copy_(dt + torch.log(-torch.expm1(-dt)))
    return model


@torch.no_grad()
def run(model, ids):
    out = {"logits": model(ids, use_cache=False).logits}
    full = model(ids, use_cache=True)
    out["logits_cached"] = full.logits
    for i in range(model.config.num_hidden_layers):
        out[f"final_conv_state.{i}"] = full.cache_params.get_conv_state(i).clone()
        out[f"final_ssm_state.{i}"] = full.cache_params.get_recurrent_state(i).clone()

    step = model(ids[:, :1], use_cache=True)
    cache, logits = step.cache_params, [step.logits]
    for t in range(1, ids.shape[1]):
        step = model(ids[:, t:t + 1], cache_params=cache, use_cache=True)
        cache = step.cache_params
        logits.append(step.logits)
    out["step_logits"] = torch.cat(logits, dim=1)
    for i in range(model.config.num_hidden_layers):
        out[f"step_conv_state.{i}"] = cache.get_conv_state(i).clone()
        out[f"step_ssm_state.{i}"] = cache.get_recurrent_state(i).clone()

    pre = model(ids[:, :PREFILL], use_cache=True)
    cache, logits = pre.cache_params, [pre.logits]
    for t in range(PREFILL, ids.shape[1]):
        step = model(ids[:, t:t + 1], cache_params=cache, use_cache=True)
        cache = step.cache_params
        logits.append(step.logits)
    out["prefill12_decode_logits"] = torch.cat(logits, dim=1)
    return out


def diff(a, b):
    return (a.double() - b.double()).abs().max().item()


def write(family, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model = build(family)
    model.save_pretrained(out_dir)
    ids = torch.randint(0, model.config.vocab_size, (1, family.T), generator=torch.Generator().manual_seed(2))
    out = run(model, ids)
    layers = range(model.config.num_hidden_layers)
    io = {"input_ids": ids.to(torch.int64)}
    for name in ["logits", "step_logits", "prefill12_decode_logits"]:
        io[name] = out[name]
    for i in layers:
        io[f"final_conv_state.{i}"] = out[f"final_conv_state.{i}"]
        io[f"final_ssm_state.{i}"] = out[f"final_ssm_state.{i}"]
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(out_dir, "io.safetensors"))

    with torch.no_grad():
        pre_conv = [None] * len(layers)
        hooks = [model.backbone.layers[i].mixer.in_proj.register_forward_hook(
            lambda m, a, y, i=i: pre_conv.__setitem__(i, y)) for i in layers]
        model(ids, use_cache=False)
        for h in hooks:
            h.remove()
    cols = family.conv_channels(model.backbone.layers[0].mixer)
    conv_vs_xproj = max(diff(out[f"final_conv_state.{i}"][0], pre_conv[i][0, -4:, cols].T) for i in layers)

    logits = out["logits"]
    with torch.no_grad():
        # Not an exact float64 reference: transformers still computes some steps in float32 (see README).
        logits64 = copy.deepcopy(model).double()(ids, use_cache=False).logits
        # How far back the state reaches: change token 0 only.
        other = ids.clone()
        other[0, 0] = (other[0, 0] + 1) % model.config.vocab_size
        moved = (model(other, use_cache=False).logits - logits).abs().amax(dim=-1)[0]
    print("files:", sorted(os.listdir(out_dir)))
    print(f"logits mean {logits.mean():.4f} std {logits.std():.4f} min {logits.min():.3f} max {logits.max():.3f}, "
          f"finite {bool(torch.isfinite(logits).all())}")
    print("max abs differences:")
    print(f"  logits vs step_logits                {diff(logits, out['step_logits']):.3g}")
    print(f"  logits vs prefill12_decode_logits    {diff(logits, out['prefill12_decode_logits']):.3g}")
    print(f"  use_cache=False vs True logits       {diff(logits, out['logits_cached']):.3g}")
    print(f"  final conv states, full vs step      "
          f"{max(diff(out[f'final_conv_state.{i}'], out[f'step_conv_state.{i}']) for i in layers):.3g}")
    print(f"  final ssm states, full vs step       "
          f"{max(diff(out[f'final_ssm_state.{i}'], out[f'step_ssm_state.{i}']) for i in layers):.3g}")
    print(f"  final conv state vs in_proj {family.conv_name:<9}{conv_vs_xproj:.3g}")
    print(f"  logits float32 vs model.double()     {diff(logits, logits64):.3g}")
    print("changing token 0 moves the logits at positions 0, 8.. by (max abs):",
          f"{moved[0]:.3g},", " ".join(f"{v:.2g}" for v in moved[8:].tolist()))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default=os.path.dirname(HERE), help="output root (default: Tests/Fixtures)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for folder, family in FAMILIES.items():
        print(f"{folder}:")
        write(family, os.path.join(args.out, folder))


if __name__ == "__main__":
    main()
