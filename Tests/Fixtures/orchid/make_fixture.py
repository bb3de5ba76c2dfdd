#!/usr/bin/env python3
"""Writes the `orchid` parity fixture (one OrchidOperator) from the official code.

The official code is Karami-m/orchid at commit 061f6df4d875c67e932ac0a964f4f169cba4774b:
orchid_standalone.orchid_standalone.OrchidOperator with ConvKernel_Static,
ConvKernel_Time_Frequency and GlobalConvolution from orchid_standalone/orchid_utils.py,
imported from a checkout of that commit, not copied here. CPU float32, d_model 32,
l_max 64, dxt 'fft', the module's default Type I conditioning (conv_kernel_cfg):

  <out>/config.json           the constructor arguments (official names), the official
                              conv_kernel_cfg, and the defaults left as they are
  <out>/weights.safetensors   the state_dict (float32, official key names, 42 tensors); the
                              one Sin `freq` that implicit_filter.1/.3/.5 share is written
                              under each of its keys
  <out>/io.safetensors        float32:
                              x                      [1, 64, 32] input
                              y                      [1, 64, 32] operator(x), causal=False
                              y_causal_flag_default  [1, 64, 32] the same weights with the
                                                     default causal=True; its output is
                                                     [1, 1, 64, 32] and [0] is stored
                              x_len48, y_len48       [1, 48, 32] x[:, :48] and operator(x[:, :48])

`causal` is not an OrchidOperator argument: it reaches ConvKernel_Time_Frequency through
**filter_args, and its default True makes the adaptive kernel a time-domain tensor with a
head axis that broadcasts the output to [B, B, L, D]. causal=False (frequency-domain
kernel, [B, L, D] output) is the path used for `y`; neither path is causal.

After the official init (torch.manual_seed(0)) the LayerNorms of the conditioning network,
in_linear and conv1d_short.weight are re-drawn from torch.Generator seed 1, so that the
gated chain is not init-scale. The script also prints float32 against float64 max abs
differences.

Used: torch 2.15.0+cu132 (CPU), safetensors 0.8.0, numpy 2.4.6, and for the official code
einops 0.8.2, easydict 1.14, opt_einsum 3.4.0 (scipy is not needed on this path).
Torch threads: --threads, default 2. The committed files come from a run with more than
one thread; with one, torch's MKL FFT rounds the length-64 transforms differently and y
and y_causal_flag_default move by up to 7e-7 (config.json and weights.safetensors do not
change).

The checkout needs only orchid_standalone/{orchid_standalone,orchid_utils}.py and
orchid_standalone/utils/{nn,dct_ops}.py of that commit (no __init__.py: namespace package).
The repository's main branch (567aecb) has no code, so a mirror of main alone lacks the
commit; see README.md. Run from the repository root (the output folder defaults to this
file's folder; give a scratch folder to compare against the committed files):

  git --git-dir=<clone with 061f6df> archive 061f6df4d875c67e932ac0a964f4f169cba4774b | tar -x -C /tmp/orchid
  python3 Tests/Fixtures/orchid/make_fixture.py /tmp/orchid [OUTPUT_DIR] [--threads 2]
"""
import argparse
import copy
import inspect
import json
import os
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))

# Constructor arguments. emb_dim 9 (4 bands) instead of the default 3, whose single band
# has f = 1e-4 and gives nearly constant positional features.
ARGS = dict(d_model=32, l_max=64, filter_order=64, short_filter_order=3, order=2,
            residual_long_conv="sconv", emb_dim=9, num_inner_mlps=2, w=1, dxt="fft")

# Defaults that stay as they are, recorded in config.json (checked against the signatures).
DEFAULTS = [("OrchidOperator", "filter_dropout", 0.0), ("OrchidOperator", "num_heads", 1),
            ("OrchidOperator", "actchain", "id"), ("OrchidOperator", "chain", "*-c-*"),
            ("ConvKernel_Static", "lr_pos_emb", 1e-5), ("ConvKernel_Static", "w_mod", 1),
            ("ConvKernel_Static", "bias", True), ("ConvKernel_Static", "modulate", True),
            ("ConvKernel_Static", "normalized", False), ("ConvKernel_Static", "bidirectional", False),
            ("ConvKernel_Static", "linear_mixer", False),
            ("ExponentialModulation", "fast_decay_pct", 0.3), ("ExponentialModulation", "slow_decay_pct", 1.5),
            ("ExponentialModulation", "target", 0.01), ("ExponentialModulation", "modulation_lr", 0.0),
            ("ExponentialModulation", "shift", 0.0), ("GlobalConvolution", "alpha_adapt", 1.0)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", help="checkout of Karami-m/orchid at 061f6df")
    parser.add_argument("out", nargs="?", default=HERE, help="output folder (default: this file's folder)")
    parser.add_argument("--threads", type=int, default=2)
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    sys.path.insert(0, os.path.abspath(a.checkout))
    from orchid_standalone import orchid_standalone, orchid_utils
    from orchid_standalone.orchid_standalone import OrchidOperator

    classes = {"OrchidOperator": OrchidOperator, "ConvKernel_Static": orchid_utils.ConvKernel_Static,
               "ExponentialModulation": orchid_utils.ExponentialModulation,
               "GlobalConvolution": orchid_utils.GlobalConvolution}
    for cls, name, value in DEFAULTS:
        official = inspect.signature(classes[cls].__init__).parameters[name].default
        assert official == value and type(official) is type(value), (cls, name, official)
    assert inspect.signature(orchid_utils.ConvKernel_Time_Frequency.__init__).parameters["causal"].default is True

    torch.manual_seed(0)
    op = OrchidOperator(**ARGS, causal=False).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in op.conv_kernel_nn.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        op.in_linear.weight.copy_(torch.randn(op.in_linear.weight.shape, generator=g) / 32 ** 0.5)
        op.in_linear.bias.copy_(0.1 * torch.randn(op.in_linear.bias.shape, generator=g))
        op.conv1d_short.weight.copy_(0.45 * torch.randn(op.conv1d_short.weight.shape, generator=g))
    state = {k: v.detach().clone().contiguous() for k, v in op.state_dict().items()}

    # The official default (causal=True), same seed and construction, same weights.
    torch.manual_seed(0)
    op_default = OrchidOperator(**ARGS).eval()
    assert op_default.conv_kernel_nn.is_causal and not op.conv_kernel_nn.is_causal
    op_default.load_state_dict(state, strict=True)

    x = torch.randn(1, 64, 32, generator=torch.Generator().manual_seed(2))
    x48 = x[:, :48].clone()
    with torch.no_grad():
        y = op(x)
        y48 = op(x48)
        y_default = op_default(x)
    assert y.shape == (1, 64, 32) and y48.shape == (1, 48, 32), (y.shape, y48.shape)
    assert y_default.shape == (1, 1, 64, 32), y_default.shape  # [B, B, L, D]
    io = {"x": x, "y": y, "y_causal_flag_default": y_default[0], "x_len48": x48, "y_len48": y48}

    os.makedirs(a.out, exist_ok=True)
    config = dict(ARGS)
    config["conv_kernel"] = dict(orchid_standalone.conv_kernel_cfg)
    config["conv_kernel_nn_causal_for_y"] = False
    config["defaults_not_overridden"] = {name: value for _, name, value in DEFAULTS}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")
    save_file(state, os.path.join(a.out, "weights.safetensors"))
    save_file({k: v.detach().clone().contiguous() for k, v in io.items()}, os.path.join(a.out, "io.safetensors"))

    # float32 against float64 (same weights, same inputs).
    with torch.no_grad():
        op64, op_default64 = copy.deepcopy(op).double(), copy.deepcopy(op_default).double()
        for name, out, ref in [("y", y, op64(x.double())), ("y_len48", y48, op64(x48.double())),
                               ("y_causal_flag_default", y_default, op_default64(x.double()))]:
            print(f"float32 vs float64, {name}: max abs {(out.double() - ref).abs().max().item():.2e}")
        print(f"y vs y_causal_flag_default: max abs {(y - y_default[0]).abs().max().item():.3f}")
    print(sorted(os.listdir(a.out)))


if __name__ == "__main__":
    main()
