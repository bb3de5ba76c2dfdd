#!/usr/bin/env python3
"""Writes the `sessa` parity fixture (one SessaLayer) from the official code.

The official code is LibratioAI/sessa at commit 72180050722b909ededa0ed6d46f67279a3e6275
(package sessa 1.0.0): sessa.layer.SessaLayer with its sessa.mixer.SessaMixer, imported
from a checkout of that commit, not copied here. One layer, CPU float32, eval mode,
use_flash=False (so every attention takes the einsum path):

  <out>/sessa/config.json           the SessaLayer constructor arguments (official names)
  <out>/sessa/weights.safetensors   the state_dict (float32, official key names) without the
                                    two boolean causal-mask buffers (causal_mask_f_full,
                                    causal_mask_fb_full); rope_inv_freq is kept
  <out>/sessa/io.safetensors        x [1, 32, 64] and, all [1, 32, 64] float32:
                                    y_forward             layer(x)
                                    y_prefill16_decode16  prefill of x[:, :16], then 16 decode_step calls
                                    y_decode_all          32 decode_step calls from an empty cache
                                    mixer_bar_a           GELU of the first half of W_in(ln(x))
                                    mixer_s               layer.mixer(mixer_bar_a)

It also prints the max abs differences that bear on test tolerances: forward against the
two cached paths, mixer_s against the s rows the cache holds after prefill + decode, and
float32 against the same layer run in float64.

Used: torch 2.15.0 (CPU), safetensors 0.8.0, numpy 2.4; the official package needs nothing
else (flash_attn is optional and was not installed). Run with one torch thread (--threads,
default 1).

Run from the repository root (the output root defaults to Tests/Fixtures next to this file's
folder; give a scratch folder to compare against the committed files):

  git --git-dir=<mirror> archive 72180050722b909ededa0ed6d46f67279a3e6275 | tar -x -C /tmp/sessa
  python3 Tests/Fixtures/sessa/make_fixture.py /tmp/sessa [OUTPUT_ROOT] [--threads 1]
"""
import argparse
import copy
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = dict(D=64, n_heads=4, n_kv_heads=2, max_len=64, ln_eps=1e-5, use_flash=False,
              use_forward_rope=True, gamma_max=0.999)
DROPPED = ["mixer.causal_mask_f_full", "mixer.causal_mask_fb_full"]  # bool, rebuilt from max_len
T, PREFILL = 32, 16


def build(SessaLayer):
    torch.manual_seed(0)
    layer = SessaLayer(**CONFIG).eval()
    # Re-draw the LayerNorm and every Linear (modules() order) so activations are not
    # init-scale; gamma_bias keeps its init value 1.0.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        layer.ln.weight.copy_(1 + 0.2 * torch.randn(layer.ln.weight.shape, generator=g))
        layer.ln.bias.copy_(0.1 * torch.randn(layer.ln.bias.shape, generator=g))
        for m in layer.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return layer


def run(layer, x):
    """All official paths on one input: forward, prefill + decode, decode only, the mixer."""
    with torch.no_grad():
        y_forward = layer(x)

        cache = layer.init_cache(1)
        y, cache = layer.prefill(x[:, :PREFILL], cache)
        ys = [y]
        for t in range(PREFILL, T):
            y_t, cache = layer.decode_step(x[:, t:t + 1], cache)
            ys.append(y_t)
        y_prefill_decode = torch.cat(ys, dim=1)
        cached_s = cache["s"][:, :T].clone()

        cache = layer.init_cache(1)
        ys = []
        for t in range(T):
            y_t, cache = layer.decode_step(x[:, t:t + 1], cache)
            ys.append(y_t)
        y_decode_all = torch.cat(ys, dim=1)

        a, _ = layer.W_in(layer.ln(x)).chunk(2, dim=-1)
        bar_a = F.gelu(a)
        s = layer.mixer(bar_a)
    return dict(y_forward=y_forward, y_prefill16_decode16=y_prefill_decode, y_decode_all=y_decode_all,
                mixer_bar_a=bar_a, mixer_s=s), cached_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", help="LibratioAI/sessa checked out at 72180050")
    parser.add_argument("out", nargs="?", default=os.path.dirname(HERE), help="output root (default: Tests/Fixtures)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, as committed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.abspath(args.checkout))
    import sessa
    from sessa.layer import SessaLayer
    print(f"torch {torch.__version__}, sessa {sessa.__version__} from {os.path.dirname(sessa.__file__)}, "
          f"{torch.get_num_threads()} threads")

    layer = build(SessaLayer)
    assert not layer.mixer.flash_enabled  # use_flash=False: the einsum attention everywhere
    x = torch.randn(1, T, CONFIG["D"], generator=torch.Generator().manual_seed(2))
    outputs, cached_s = run(layer, x)

    out = os.path.join(args.out, "sessa")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    state = layer.state_dict()
    assert all(state[k].dtype == torch.bool for k in DROPPED)
    save_file({k: v.contiguous() for k, v in state.items() if k not in DROPPED},
              os.path.join(out, "weights.safetensors"))
    save_file({"x": x.contiguous(), **{k: v.contiguous() for k, v in outputs.items()}},
              os.path.join(out, "io.safetensors"))

    # The same layer and input in float64, for the size of float32 rounding.
    outputs64, _ = run(copy.deepcopy(layer).double(), x.double())
    yf = outputs["y_forward"]
    diff = lambda a, b: (a.double() - b.double()).abs().max().item()
    with torch.no_grad():
        gamma = CONFIG["gamma_max"] * torch.tanh(layer.mixer.gamma_bias + layer.mixer.gamma_ctx(outputs["mixer_bar_a"]))
    print(f"gamma in [{gamma.min().item():.3f}, {gamma.max().item():.3f}]; std of s {outputs['mixer_s'].std().item():.3f}, "
          f"of y - x {(yf - x).std().item():.3f}")
    print("max abs diff:")
    print(f"  y_forward vs y_prefill16_decode16   {diff(yf, outputs['y_prefill16_decode16']):.3g} "
          f"(first {PREFILL} positions {diff(yf[:, :PREFILL], outputs['y_prefill16_decode16'][:, :PREFILL]):.3g})")
    print(f"  y_forward vs y_decode_all           {diff(yf, outputs['y_decode_all']):.3g}")
    print(f"  mixer_s vs cached s (prefill+decode) {diff(outputs['mixer_s'], cached_s):.3g}")
    for k in outputs:
        print(f"  float32 vs float64 {k:22s}{diff(outputs[k], outputs64[k]):.3g}")


if __name__ == "__main__":
    main()
