"""zoo's Sessa language model (model_type "sessa") in PyTorch, for training.

The layer is Sessa (Selective State Space Attention, Horbatko 2026, arXiv 2604.18580),
written from its math (see Plugins/Sessa/README.md), not copied from the official code,
but with the parameter names of github.com/LibratioAI/sessa @ 7218005 `SessaLayer`, so
`layers.{i}.state_dict()` keys are the official ones and an official SessaLayer's
state_dict loads into a layer here (and the other way round). The official repository
has only the layer; the model around it (embedding, optional MLP blocks, final
LayerNorm, head) is zoo's, as the plugin's README defines it.

    build(args)              -> SessaLM, byte-level (vocabulary 256)
    SessaLM.forward(ids)     -> logits [B, T, 256]
    export(model, out_dir)   -> config.json (zoo's sessa keys) and model.safetensors

    python3 -m training.archs.sessa --check   # loads the official fixture and reproduces its outputs
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


@dataclasses.dataclass
class SessaConfig:
    """config.json of model_type "sessa" (keys and defaults as Plugins/Sessa/README.md)."""
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int = 1
    num_key_value_heads: int | None = None
    layer_norm_eps: float = 1e-5
    use_forward_rope: bool = True
    gamma_max: float = 0.999
    intermediate_size: int = 0
    max_position_embeddings: int | None = None
    tie_word_embeddings: bool = False  # not read by zoo: a missing lm_head.weight means tied


def rotate_pairs(x, inv_freq, positions):
    """RoPE over interleaved pairs (x_2i, x_2i+1) of the last dim; x [B, H, T, d]."""
    theta = positions.float()[:, None] * inv_freq[None, :]  # [T, d/2], float32 as the official code
    cos, sin = theta.cos().to(x.dtype), theta.sin().to(x.dtype)
    pairs = x.unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class SessaMixer(nn.Module):
    """s solving (I − γα)s = f: f is GQA causal attention (RoPE), α strictly causal feedback attention."""

    def __init__(self, D, n_heads=1, n_kv_heads=None, use_forward_rope=True, gamma_max=0.999):
        super().__init__()
        n_kv_heads = n_kv_heads or n_heads
        if D % n_heads or n_heads % n_kv_heads or not 0 < gamma_max < 1:
            raise ValueError("need n_heads | D, n_kv_heads | n_heads and 0 < gamma_max < 1")
        self.D, self.H, self.Hkv, self.d = D, n_heads, n_kv_heads, D // n_heads
        self.gamma_max = gamma_max
        self.q_proj = nn.Linear(D, D)
        self.k_proj = nn.Linear(D, n_kv_heads * self.d)
        self.v_proj = nn.Linear(D, n_kv_heads * self.d)
        self.proj_fb = nn.Linear(D, 2 * D)  # [q_b | k_b]
        self.out_proj = nn.Linear(D, D, bias=False) if n_heads > 1 else None
        self.gamma_bias = nn.Parameter(torch.tensor(1.0))  # 0-dim, as the official parameter
        self.gamma_ctx = nn.Linear(D, 1, bias=False)
        if use_forward_rope:
            if self.d % 2:
                raise ValueError("RoPE needs an even head dim")
            half = torch.arange(self.d // 2, dtype=torch.float32)
            self.register_buffer("rope_inv_freq", 10000.0 ** (-2 * half / self.d))
        else:
            self.rope_inv_freq = None

    def forward(self, a):
        B, T, D = a.shape
        q = self.q_proj(a).view(B, T, self.H, self.d).transpose(1, 2)
        k = self.k_proj(a).view(B, T, self.Hkv, self.d).transpose(1, 2)
        v = self.v_proj(a).view(B, T, self.Hkv, self.d).transpose(1, 2)
        if self.rope_inv_freq is not None:
            positions = torch.arange(T, device=a.device)
            q, k = rotate_pairs(q, self.rope_inv_freq, positions), rotate_pairs(k, self.rope_inv_freq, positions)
        group = self.H // self.Hkv  # query head h reads KV head h // group
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        f = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D)
        if self.out_proj is not None:
            f = self.out_proj(f)

        q_b, k_b = self.proj_fb(a).split(D, dim=-1)
        scores = q_b @ k_b.transpose(1, 2) / math.sqrt(D)
        earlier = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)  # j < t
        # Softmax over j < t; position 0 has no earlier position and its row stays 0.
        scores = scores.masked_fill(~earlier, float("-inf"))
        peak = scores.amax(dim=-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).min)
        weights = (scores - peak).exp()
        alpha = weights / weights.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny)
        gamma = self.gamma_max * torch.tanh(self.gamma_bias + self.gamma_ctx(a))  # [B, T, 1]
        system = torch.eye(T, device=a.device, dtype=a.dtype) - gamma * alpha
        return torch.linalg.solve_triangular(system, f, upper=False, unitriangular=True)


class SessaLayer(nn.Module):
    """y = x + W_out(s ⊙ g), [a | g] = W_in(LayerNorm(x)), s = mixer(GELU(a)); official names."""

    def __init__(self, D, n_heads=1, n_kv_heads=None, ln_eps=1e-5, use_forward_rope=True, gamma_max=0.999):
        super().__init__()
        self.ln = nn.LayerNorm(D, eps=ln_eps)
        self.W_in = nn.Linear(D, 2 * D)
        self.mixer = SessaMixer(D, n_heads, n_kv_heads, use_forward_rope, gamma_max)
        self.W_out = nn.Linear(D, D)

    def forward(self, x):
        a, g = self.W_in(self.ln(x)).chunk(2, dim=-1)
        return x + self.W_out(self.mixer(F.gelu(a)) * g)


class MLP(nn.Module):
    """The block after a Sessa layer: fc2(GELU(fc1(LayerNorm(h)))), added to h by the model."""

    def __init__(self, D, inner, eps):
        super().__init__()
        self.norm = nn.LayerNorm(D, eps=eps)
        self.fc1 = nn.Linear(D, inner)
        self.fc2 = nn.Linear(inner, D)

    def forward(self, h):
        return self.fc2(F.gelu(self.fc1(self.norm(h))))


class SessaLM(nn.Module):
    """embedding → (SessaLayer, optional MLP) × N → LayerNorm → head (lm_head or the tied embedding)."""

    def __init__(self, cfg: SessaConfig):
        super().__init__()
        self.config = cfg
        D = cfg.hidden_size
        self.embedding = nn.Embedding(cfg.vocab_size, D)
        self.layers = nn.ModuleList(
            SessaLayer(D, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.layer_norm_eps,
                       cfg.use_forward_rope, cfg.gamma_max) for _ in range(cfg.num_hidden_layers))
        self.mlps = nn.ModuleList(
            MLP(D, cfg.intermediate_size, cfg.layer_norm_eps) for _ in range(cfg.num_hidden_layers)
        ) if cfg.intermediate_size > 0 else None
        self.norm = nn.LayerNorm(D, eps=cfg.layer_norm_eps)
        self.lm_head = None if cfg.tie_word_embeddings else nn.Linear(D, cfg.vocab_size, bias=False)

    def forward(self, ids):
        if self.config.max_position_embeddings and ids.size(1) > self.config.max_position_embeddings:
            raise ValueError(f"{ids.size(1)} tokens exceed max_position_embeddings")
        h = self.embedding(ids)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if self.mlps is not None:
                h = h + self.mlps[i](h)
        h = self.norm(h)
        return h @ self.embedding.weight.t() if self.lm_head is None else self.lm_head(h)


def build(args):
    """A byte-level Sessa LM of about 1.8M parameters: D 192, 4 layers, 4 heads over 2 KV heads,
    MLP blocks of 384, tied head. Positions are unbounded (RoPE, no learned positions)."""
    cfg = SessaConfig(vocab_size=256, hidden_size=192, num_hidden_layers=4, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=384, tie_word_embeddings=True)
    return SessaLM(cfg)


def export(model, out_dir):
    """Writes config.json (model_type "sessa" and zoo's keys) and model.safetensors (state_dict
    names; with a tied head, lm_head.weight is absent and zoo uses embedding.weight)."""
    from safetensors.torch import save_file

    os.makedirs(out_dir, exist_ok=True)
    config = {"model_type": "sessa", **dataclasses.asdict(model.config)}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump({k: v for k, v in config.items() if v is not None}, f, indent=2)
        f.write("\n")
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, os.path.join(out_dir, "model.safetensors"))


def fixture_dir():
    env = os.environ.get("ZOO_FIXTURES")
    root = env or os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures")
    return os.path.join(root, "sessa")


def check():
    """Loads the official SessaLayer fixture into SessaLayer here and compares its outputs (the
    fixture's prefill/decode outputs equal the forward within 1.2e-6, so the forward is compared
    with all three); then round-trips export/load of a small random model."""
    from safetensors.torch import load_file

    folder = fixture_dir()
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    layer = SessaLayer(c["D"], c["n_heads"], c["n_kv_heads"], c["ln_eps"], c["use_forward_rope"], c["gamma_max"])
    layer.eval()
    missing, unexpected = layer.load_state_dict(load_file(os.path.join(folder, "weights.safetensors")), strict=True)
    assert not missing and not unexpected, (missing, unexpected)
    io = load_file(os.path.join(folder, "io.safetensors"))
    ok = True
    with torch.no_grad():
        y = layer(io["x"])
        s = layer.mixer(io["mixer_bar_a"])
    for name, got in [("y_forward", y), ("y_prefill16_decode16", y), ("y_decode_all", y), ("mixer_s", s)]:
        err = (got - io[name]).abs().max().item()
        print(f"sessa fixture {name}: max abs error {err:.2e}")
        ok &= err < 1e-4

    torch.manual_seed(0)
    cfg = SessaConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=48)
    model = SessaLM(cfg).eval()
    ids = torch.randint(0, 256, (1, 20))
    with tempfile.TemporaryDirectory() as tmp:
        export(model, tmp)
        with open(os.path.join(tmp, "config.json")) as f:
            config = json.load(f)
        reloaded = SessaLM(SessaConfig(**{k: v for k, v in config.items() if k != "model_type"})).eval()
        reloaded.load_state_dict(load_file(os.path.join(tmp, "model.safetensors")), strict=True)
    with torch.no_grad():
        same = torch.equal(model(ids), reloaded(ids))
    print(f"export round trip: {'identical logits' if same else 'DIFFERENT logits'}")
    return ok and same


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="reproduce the official fixture's outputs")
    args = p.parse_args(argv)
    if args.check:
        sys.exit(0 if check() else 1)
    p.print_help()


if __name__ == "__main__":
    main()
