"""Orchid (Karami & Ghodsi 2024, arXiv 2402.18508) in PyTorch, for training zoo's `orchid` LM.

Written from the operator's math (Plugins/Orchid/README.md), not copied from the official
code, but with the parameter names of github.com/Karami-m/orchid @ 061f6df
`OrchidOperator` (order 2, dxt 'fft', Type I conditioning), so zoo's `orchid` plugin loads
what `export` writes. The initialisation follows the official one: PyTorch defaults for
Linear / Conv1d / LayerNorm, `fixed_conv*.bias` ~ N(0, 1), `Sin.freq` = w, the positional
features and decay rates as the official constructor computes them.

The language model uses zoo's causal variant of the operator (linear convolutions, a
left-padded conditioning time conv, the kernel of position t conditioned on the prefix
0...t through the official time-domain path on a fixed 2·l_max grid); see the plugin
README. Its parallel form materialises [B, T, l_max + 1, D] spectra, computed in chunks of
positions under activation checkpointing while training.

    build(args)              -> OrchidLM, byte-level (vocabulary 256), l_max = --seq-len
    OrchidLM.forward(ids)    -> logits [B, T, 256]
    export(model, out_dir)   -> config.json (model_type orchid) and model.safetensors

    python3 -m training.archs.orchid --check   # reproduces the official fixture's outputs
"""

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclasses.dataclass
class OrchidConfig:
    """config.json of zoo's `orchid` model: model keys, then the official operator arguments."""
    vocab_size: int = 256
    n_layer: int = 4
    d_model: int = 128
    d_inner: int = 512
    layer_norm_epsilon: float = 1e-5
    l_max: int = 128
    filter_order: int = 64
    short_filter_order: int = 3
    emb_dim: int = 3
    num_inner_mlps: int = 2
    w: float = 1.0
    conv_filter_size: int = 3  # written as conv_kernel.conv_filter_size

    def to_json(self):
        d = dataclasses.asdict(self)
        taps = d.pop("conv_filter_size")
        return {"model_type": "orchid", **d, "order": 2, "residual_long_conv": "sconv", "dxt": "fft",
                "conv_kernel": {"type": "absfreq", "nn": "convtf", "conv_filter_size": taps,
                                "padding_mode": "zeros", "norm": "layernorm", "n_layer": 1, "bias": True},
                "tie_word_embeddings": True}


class Sin(nn.Module):
    def __init__(self, width, w):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, width))

    def forward(self, x):
        return torch.sin(self.freq * x)


class PositionalEmbedding(nn.Module):
    """z = [t, cos(2πfτ/L), −sin(2πfτ/L)] with t = τ/(L−1), f = linspace(1e-4, bands−1, bands)."""

    def __init__(self, emb_dim, l_max):
        super().__init__()
        bands = (emb_dim - 1) // 2
        t = torch.linspace(0, 1, l_max)[None, :, None]
        angle = 2 * math.pi * torch.arange(l_max, dtype=torch.float32)[None, :, None] / l_max
        f = torch.linspace(1e-4, bands - 1, bands)[None, None]
        self.z = nn.Parameter(torch.cat([t, torch.cos(f * angle), -torch.sin(f * angle)], dim=-1))
        self.register_buffer("t", t)


class ExponentialModulation(nn.Module):
    def __init__(self, d, fast_decay_pct=0.3, slow_decay_pct=1.5, target=1e-2):
        super().__init__()
        deltas = torch.linspace(math.log(target) / slow_decay_pct, math.log(target) / fast_decay_pct, d)
        self.register_buffer("deltas", deltas[None, None])


class ImplicitFilter(nn.Module):
    """A static kernel (names of the official ConvKernel_Static): k [l_max, D]."""

    def __init__(self, d, cfg: OrchidConfig):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(d))
        self.pos_emb = PositionalEmbedding(cfg.emb_dim, cfg.l_max)
        act = Sin(cfg.filter_order, cfg.w)  # one module after every Linear: one shared freq
        layers = [nn.Linear(cfg.emb_dim, cfg.filter_order), act]
        for _ in range(cfg.num_inner_mlps):
            layers += [nn.Linear(cfg.filter_order, cfg.filter_order), act]
        layers.append(nn.Linear(cfg.filter_order, d, bias=False))
        self.implicit_filter = nn.Sequential(*layers)
        self.modulation = ExponentialModulation(d)

    def kernel(self):
        z, t = self.pos_emb.z[0], self.pos_emb.t[0]
        return self.implicit_filter(z) * torch.exp(-t * self.modulation.deltas[0].abs())


class NormWrapper(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm_conv_kernel = nn.LayerNorm(width)


class ConvNet(nn.Module):
    """One depthwise conv (D in, D·outputs out) and its LayerNorm, under the official names."""

    def __init__(self, d, outputs, taps):
        super().__init__()
        self.conv1d_ls = nn.ModuleList([nn.Conv1d(d, d * outputs, taps, groups=d)])
        self.norm_ls = nn.ModuleList([NormWrapper(d * outputs)])

    def forward(self, x, left, right):
        """x [..., length, D] → LayerNorm(conv over length with (left, right) zero padding)."""
        shape = x.shape
        y = F.pad(x.reshape(-1, shape[-2], shape[-1]).transpose(1, 2), (left, right))
        y = self.conv1d_ls[0](y).transpose(1, 2)
        return self.norm_ls[0].norm_conv_kernel(y).reshape(*shape[:-1], -1)


class Conditioning(nn.Module):
    def __init__(self, d, taps):
        super().__init__()
        self.nn_model = ConvNet(d, 1, taps)
        self.nn_model2 = ConvNet(d, 2, taps)

    def kernel_spectrum(self, power):
        """ĥ = complex(LN(Conv1d_f(P))) over the bins (symmetric padding): [..., F, D] → complex."""
        pad = (self.nn_model2.conv1d_ls[0].kernel_size[0] - 1) // 2
        h = self.nn_model2(power, pad, pad)
        return torch.complex(h[..., 0::2], h[..., 1::2])


class OrchidOperator(nn.Module):
    def __init__(self, cfg: OrchidConfig):
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.in_linear = nn.Linear(d, 3 * d)
        self.out_linear = nn.Linear(d, d)
        self.conv1d_short = nn.Conv1d(3 * d, 3 * d, cfg.short_filter_order, groups=3 * d)
        self.fixed_conv = ImplicitFilter(d, cfg)
        self.fixed_conv_res = ImplicitFilter(d, cfg)
        self.conv_kernel_nn = Conditioning(d, cfg.conv_filter_size)

    def _common(self, u, symmetric_time_conv):
        d, taps = self.cfg.d_model, self.cfg.conv_filter_size
        p = self.in_linear(u)
        c = self.conv1d_short(F.pad(p.transpose(1, 2), (self.cfg.short_filter_order - 1, 0))).transpose(1, 2)
        left = (taps - 1) // 2 if symmetric_time_conv else taps - 1
        z = self.conv_kernel_nn.nn_model(p[..., 2 * d:], left, taps - 1 - left)
        x0, x1, v = c.split(d, dim=-1)
        return z, x0, x1 * v

    def forward_bidirectional(self, u, causal_flag=False):
        """The official operator: length-L circular convolutions scaled 1/L (u [B, L, D])."""
        length = u.shape[1]
        z, x0, w = self._common(u, symmetric_time_conv=True)
        n = 2 * length if causal_flag else length
        spectrum = torch.fft.rfft(z, n=n, dim=1) / n
        h_hat = self.conv_kernel_nn.kernel_spectrum(spectrum.real ** 2 + spectrum.imag ** 2)
        k = F.pad(self.fixed_conv.kernel()[:length], (0, 0, 0, max(0, length - self.cfg.l_max)))
        if causal_flag:
            k_spectrum = torch.fft.rfft(k + torch.fft.irfft(h_hat, n=n, dim=1, norm="forward")[:, :length], dim=1) / length
        else:
            k_spectrum = torch.fft.rfft(k, dim=0) / length + h_hat
        a = torch.fft.irfft(torch.fft.rfft(w, dim=1) / length * k_spectrum, n=length, dim=1, norm="forward")
        y = x0 * (a + self.fixed_conv.bias * w)
        k_res = F.pad(self.fixed_conv_res.kernel()[:length], (0, 0, 0, max(0, length - self.cfg.l_max)))
        r = torch.fft.irfft(torch.fft.rfft(u, dim=1) * torch.fft.rfft(k_res, dim=0) / length ** 2, n=length, dim=1,
                            norm="forward")
        return self.out_linear(y + r + self.fixed_conv_res.bias * u)

    def forward(self, u, chunk=32, symmetric_time_conv=False):
        """zoo's causal variant (u [B, T, D], T ≤ l_max); symmetric_time_conv only for the check."""
        b, length, d = u.shape
        l_max = self.cfg.l_max
        if length > l_max:
            raise ValueError(f"{length} tokens exceed l_max = {l_max}")
        n, bins = 2 * l_max, l_max + 1
        z, x0, w = self._common(u, symmetric_time_conv)
        s = torch.arange(length, device=u.device, dtype=torch.float64)
        angle = 2 * math.pi * s[:, None] * torch.arange(bins, device=u.device, dtype=torch.float64)[None] / n
        rotation = torch.polar(torch.ones_like(angle), angle).to(torch.complex64)  # e^{2πi f s/N}, [T, F]
        weight = torch.full((bins,), 2.0, device=u.device)
        weight[0] = weight[-1] = 1
        k_spectrum = torch.fft.rfft(self.fixed_conv.kernel(), n=n, dim=0) / n  # [F, D]
        # Running sums over earlier chunks, [B, F, D].
        z_sum = torch.zeros(b, bins, d, dtype=torch.complex64, device=u.device)
        w_sum = torch.zeros_like(z_sum)
        out = []
        for start in range(0, length, chunk):
            end = min(length, start + chunk)
            args = (z[:, start:end], w[:, start:end], z_sum, w_sum, rotation[start:end], k_spectrum, weight)
            if self.training and torch.is_grad_enabled():
                a = checkpoint(self._adaptive_chunk, *args, use_reentrant=False)
            else:
                a = self._adaptive_chunk(*args)
            out.append(a)
            z_sum = z_sum + (z[:, start:end, None, :] * rotation[start:end, :, None].conj()).sum(1)
            w_sum = w_sum + (w[:, start:end, None, :] * rotation[start:end, :, None].conj()).sum(1)
        a = torch.cat(out, dim=1) / l_max + self.fixed_conv.bias * w
        k_res = self.fixed_conv_res.kernel()
        r = torch.fft.irfft(torch.fft.rfft(u, n=n, dim=1) * torch.fft.rfft(k_res, n=n, dim=0), n=n, dim=1)[:, :length]
        return self.out_linear(x0 * a + r / l_max + self.fixed_conv_res.bias * u)

    def _adaptive_chunk(self, z, w, z_sum, w_sum, rotation, k_spectrum, weight):
        """Σ_{s≤t} (k + h_t)[t−s] w_s for the chunk's positions t, through the prefix DFTs."""
        n = 2 * self.cfg.l_max
        z_prefix = z_sum[:, None] + torch.cumsum(z[:, :, None, :] * rotation[:, :, None].conj(), dim=1)
        w_prefix = w_sum[:, None] + torch.cumsum(w[:, :, None, :] * rotation[:, :, None].conj(), dim=1)
        power = (z_prefix.real ** 2 + z_prefix.imag ** 2) / n ** 2
        spectrum = self.conv_kernel_nn.kernel_spectrum(power) + k_spectrum
        return (weight[:, None] * (spectrum * rotation[:, :, None] * w_prefix).real).sum(2)


class MLP(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.fc1 = nn.Linear(d, inner)
        self.fc2 = nn.Linear(inner, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: OrchidConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_epsilon)
        self.mixer = OrchidOperator(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg.d_model, cfg.d_inner)

    def forward(self, h):
        h = h + self.mixer(self.norm1(h))
        return h + self.mlp(self.norm2(h))


class OrchidLM(nn.Module):
    """Embedding, pre-norm blocks of the causal operator and a GELU MLP, final LayerNorm, tied head."""

    def __init__(self, cfg: OrchidConfig):
        super().__init__()
        self.config = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)  # tied: N(0, 1) would make the logits huge
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm_f = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_epsilon)

    def forward(self, ids):
        h = self.embedding(ids)
        for layer in self.layers:
            h = layer(h)
        return self.norm_f(h) @ self.embedding.weight.t()


def build(args):
    """A byte-level Orchid LM of about 0.2M parameters; l_max is the training window (--seq-len).

    The per-position conditioning costs O(B·T·(l_max + 1)·D) per layer: with D 128 and 4
    layers, one CPU thread took 16-22 s per step of batch 8 × 128 tokens (peak RSS 1.6 GB).
    The bundled model is therefore narrow (D 64, 3 layers) so that it trains in under an hour.
    """
    cfg = OrchidConfig(vocab_size=256, n_layer=3, d_model=64, d_inner=256, l_max=getattr(args, "seq_len", 128),
                       filter_order=64, emb_dim=9)
    return OrchidLM(cfg)


def export(model, out_dir):
    """Writes config.json and model.safetensors (safetensors keeps one name of the shared Sin.freq)."""
    from safetensors.torch import save_model

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(model.config.to_json(), f, indent=2)
        f.write("\n")
    save_model(model, os.path.join(out_dir, "model.safetensors"))


def fixture_dir():
    env = os.environ.get("ZOO_FIXTURES")
    root = env or os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures")
    return os.path.join(root, "orchid")


def check():
    """The official fixture through this module's operator, then the causal LM's properties and export."""
    from safetensors.torch import load_file

    folder = fixture_dir()
    with open(os.path.join(folder, "config.json")) as f:
        official = json.load(f)
    cfg = OrchidConfig(d_model=official["d_model"], l_max=official["l_max"], filter_order=official["filter_order"],
                       short_filter_order=official["short_filter_order"], emb_dim=official["emb_dim"],
                       num_inner_mlps=official["num_inner_mlps"], w=official["w"],
                       conv_filter_size=official["conv_kernel"]["conv_filter_size"])
    op = OrchidOperator(cfg).eval()
    weights = load_file(os.path.join(folder, "weights.safetensors"))
    missing, unexpected = op.load_state_dict(weights, strict=True)
    assert not missing and not unexpected, (missing, unexpected)
    io = load_file(os.path.join(folder, "io.safetensors"))
    ok = True

    def report(name, got, want):
        nonlocal ok
        err = (got - want).abs().max().item()
        print(f"{name}: max abs error {err:.2e}")
        ok = ok and err < 1e-4

    with torch.no_grad():
        report("official y (causal=False)", op.forward_bidirectional(io["x"]), io["y"])
        report("official y_len48", op.forward_bidirectional(io["x_len48"]), io["y_len48"])
        report("official y_causal_flag_default", op.forward_bidirectional(io["x"], causal_flag=True),
               io["y_causal_flag_default"])
        # zoo's causal variant reduces to the official time-domain path at the last of l_max
        # positions when its conditioning time conv pads symmetrically.
        last = op(io["x"], symmetric_time_conv=True)[:, -1]
        report("causal variant, last row vs y_causal_flag_default", last, io["y_causal_flag_default"][:, -1])
        base = op(io["x"], chunk=24)
        changed = io["x"].clone()
        changed[:, 40:] = torch.randn(1, 24, cfg.d_model, generator=torch.Generator().manual_seed(0))
        moved = op(changed, chunk=7)
        kept = (moved[:, :40] - base[:, :40]).abs().max().item()
        print(f"causal variant: inputs after 39 changed, outputs ≤ 39 moved {kept:.1e}, "
              f"later {(moved[:, 40:] - base[:, 40:]).abs().max().item():.2f}")
        ok = ok and kept < 1e-5

    lm_cfg = dataclasses.replace(cfg, vocab_size=64, n_layer=2, d_inner=64)
    torch.manual_seed(0)
    lm = OrchidLM(lm_cfg).eval()
    ids = torch.randint(0, 64, (2, 40))
    with torch.no_grad():
        full = lm(ids)
        prefix = lm(ids[:, :25])
    err = (full[:, :25] - prefix).abs().max().item()
    print(f"LM: logits of a 25-token prefix vs the same rows of 40 tokens: max abs error {err:.1e}")
    ok = ok and err < 1e-4

    lm.train()
    loss = F.cross_entropy(lm(ids).flatten(0, 1), ids.roll(-1, 1).flatten())
    loss.backward()
    print(f"LM: training forward/backward with checkpointed chunks: loss {loss.item():.3f}, "
          f"grad norm {torch.nn.utils.clip_grad_norm_(lm.parameters(), 1e9).item():.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        export(lm, tmp)
        stored = load_file(os.path.join(tmp, "model.safetensors"))
        with open(os.path.join(tmp, "config.json")) as f:
            config = json.load(f)
    names = {k for k in lm.state_dict()}
    # The shared Sin.freq keeps one of its names; zoo accepts any of them.
    sin = {k for k in names if ".implicit_filter." in k and k.endswith(".freq")}
    same = set(stored) - sin == names - sin and all(
        any(k.startswith(p) and k in stored for k in sin) for p in {k.rsplit("implicit_filter", 1)[0] for k in sin})
    print(f"export: {len(stored)} tensors, names {'as zoo reads them' if same else 'MISMATCH'}; "
          f"config model_type {config['model_type']}")
    ok = ok and same
    print("check passed" if ok else "check FAILED")
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="reproduce the official fixture's outputs")
    if parser.parse_args().check:
        sys.exit(0 if check() else 1)
    parser.print_help()
