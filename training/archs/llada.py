"""LLaDA (Nie et al. 2025, arXiv 2502.09992) in PyTorch, for training zoo's small `llada` demo model.

Written from the math (a Llama-style pre-norm transformer run with full bidirectional
attention over prompt + [MASK] tokens), with the parameter names and Hugging Face layout
of LLaDA-8B's `modeling_llada.py` (ML-GSAI/LLaDA; NVlabs/Fast-dLLM @ 24cc59e
`llada/model/modeling_llada.py`, `LLaDAModelLM` -> `LLaDAModel` -> `LLaDALlamaBlock`):

    model.transformer.wte.weight                         [vocab, d]
    model.transformer.blocks.N.attn_norm.weight          [d]        RMSNorm
    model.transformer.blocks.N.{q,k,v}_proj.weight       [d, d]     (k, v: n_kv_heads * head_dim rows)
    model.transformer.blocks.N.attn_out.weight           [d, d]
    model.transformer.blocks.N.ff_norm.weight            [d]        RMSNorm
    model.transformer.blocks.N.{ff_proj,up_proj}.weight  [mlp, d]
    model.transformer.blocks.N.ff_out.weight             [d, mlp]   ff_out(silu(ff_proj(x)) * up_proj(x))
    model.transformer.ln_f.weight                        [d]
    model.transformer.ff_out.weight                      [vocab, d] (untied)

(The official block names its first norm `attn_norm`; LLaDA-8B's safetensors use that name.)
RMSNorm: x * rsqrt(mean(x^2) + eps) * weight, in float32. RoPE: theta 10000 over the head
dimension, "rotate half" (first half / second half of each head), applied to q and k.
No biases, no logit scaling, no embedding scaling.

`causal=True` runs the same network with a causal mask: that is the autoregressive
baseline, which `export_llama` writes in transformers' LlamaForCausalLM layout (same
RMSNorm, same rotate-half RoPE, SwiGLU gate = ff_proj, up = up_proj, down = ff_out).

    LLaDA(config).forward(ids) -> logits [B, T, vocab]
    export_llada(model, out)   -> config.json (model_type llada, keys as LLaDA-8B's) + model.safetensors
    export_llama(model, out)   -> config.json (model_type llama) + model.safetensors

    python3 -m training.archs.llada --check
        builds Fast-dLLM's official LLaDAModelLM from the exported config.json and weights
        (random, non-trivial) and checks that its logits equal this module's to 1e-4; then
        the same for the causal variant against transformers.LlamaForCausalLM.
"""

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from torch import nn

FAST_DLLM_GIT = "/work/.mirror/NVlabs+Fast-dLLM/repo"
FAST_DLLM_COMMIT = "24cc59e"


@dataclasses.dataclass
class LLaDAConfig:
    d_model: int = 128
    n_heads: int = 4
    n_kv_heads: int = 4
    n_layers: int = 4
    mlp_hidden_size: int = 384
    vocab_size: int = 256
    max_sequence_length: int = 64
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    mask_token_id: int = 255
    eos_token_id: int = 0
    pad_token_id: int = 0
    causal: bool = False  # not part of LLaDA's config: selects the autoregressive baseline

    @property
    def head_dim(self):
        return self.d_model // self.n_heads

    def llada_json(self):
        """config.json with the keys of LLaDA-8B's config (values for this small model)."""
        return {
            "architectures": ["LLaDAModelLM"],
            "model_type": "llada",
            "d_model": self.d_model,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "n_layers": self.n_layers,
            "mlp_hidden_size": self.mlp_hidden_size,
            "mlp_ratio": self.mlp_hidden_size // self.d_model,
            "activation_type": "silu",
            "block_type": "llama",
            "block_group_size": 1,
            "rope": True,
            "rope_theta": self.rope_theta,
            "rope_full_precision": True,
            "layer_norm_type": "rms",
            "rms_norm_eps": self.rms_norm_eps,
            "layer_norm_with_affine": True,
            "bias_for_layer_norm": False,
            "include_bias": False,
            "include_qkv_bias": False,
            "attention_layer_norm": False,
            "attention_layer_norm_with_affine": True,
            "multi_query_attention": None,
            "alibi": False,
            "alibi_bias_max": 8.0,
            "flash_attention": False,
            "scale_logits": False,
            "input_emb_norm": False,
            "weight_tying": False,
            "attention_dropout": 0.0,
            "residual_dropout": 0.0,
            "embedding_dropout": 0.0,
            "vocab_size": self.vocab_size,
            "embedding_size": self.vocab_size,
            "max_sequence_length": self.max_sequence_length,
            "mask_token_id": self.mask_token_id,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
            "use_cache": False,
            "precision": "fp32",
        }

    def llama_json(self):
        """config.json of transformers' LlamaForCausalLM for the causal variant."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": self.vocab_size,
            "hidden_size": self.d_model,
            "intermediate_size": self.mlp_hidden_size,
            "num_hidden_layers": self.n_layers,
            "num_attention_heads": self.n_heads,
            "num_key_value_heads": self.n_kv_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "max_position_embeddings": self.max_sequence_length,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_parameters": {"rope_type": "default", "rope_theta": self.rope_theta},
            "attention_bias": False,
            "mlp_bias": False,
            "attention_dropout": 0.0,
            "tie_word_embeddings": False,
            "bos_token_id": None,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
            "initializer_range": 0.02,
            "pretraining_tp": 1,
            "use_cache": True,
            "dtype": "float32",
        }


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rope_tables(seq_len, head_dim, theta, device=None):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float, device=device) / head_dim))
    freqs = torch.outer(torch.arange(seq_len, dtype=torch.float, device=device), inv_freq)
    pos = torch.cat((freqs, freqs), dim=-1)
    return pos.sin(), pos.cos()  # [T, head_dim]


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Block(nn.Module):
    """LLaDALlamaBlock: x + attn_out(attn(attn_norm(x))), then + ff_out(silu(ff_proj(h)) * up_proj(h))."""

    def __init__(self, c: LLaDAConfig):
        super().__init__()
        self.c = c
        kv = c.n_kv_heads * c.head_dim
        self.attn_norm = RMSNorm(c.d_model, c.rms_norm_eps)
        self.q_proj = nn.Linear(c.d_model, c.d_model, bias=False)
        self.k_proj = nn.Linear(c.d_model, kv, bias=False)
        self.v_proj = nn.Linear(c.d_model, kv, bias=False)
        self.attn_out = nn.Linear(c.d_model, c.d_model, bias=False)
        self.ff_norm = RMSNorm(c.d_model, c.rms_norm_eps)
        self.ff_proj = nn.Linear(c.d_model, c.mlp_hidden_size, bias=False)
        self.up_proj = nn.Linear(c.d_model, c.mlp_hidden_size, bias=False)
        self.ff_out = nn.Linear(c.mlp_hidden_size, c.d_model, bias=False)

    def forward(self, x, sin, cos, causal):
        c = self.c
        B, T, D = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(B, T, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(B, T, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(B, T, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if c.n_kv_heads != c.n_heads:
            rep = c.n_heads // c.n_kv_heads
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + self.attn_out(a.transpose(1, 2).reshape(B, T, D))
        h = self.ff_norm(x)
        return x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))


class _Core(nn.Module):
    def __init__(self, c: LLaDAConfig):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.d_model),
            blocks=nn.ModuleList([Block(c) for _ in range(c.n_layers)]),
            ln_f=RMSNorm(c.d_model, c.rms_norm_eps),
            ff_out=nn.Linear(c.d_model, c.vocab_size, bias=False),
        ))


class LLaDA(nn.Module):
    def __init__(self, c: LLaDAConfig):
        super().__init__()
        self.config = c
        self.model = _Core(c)
        sin, cos = rope_tables(c.max_sequence_length, c.head_dim, c.rope_theta)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.reset_parameters()

    def reset_parameters(self, std=0.02):
        """Normal(0, 0.02) weights; the two residual output projections scaled by 1/sqrt(2 n_layers)."""
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p)
            elif name.endswith("attn_out.weight") or (".blocks." in name and name.endswith("ff_out.weight")):
                nn.init.normal_(p, std=std / (2 * self.config.n_layers) ** 0.5)
            else:
                nn.init.normal_(p, std=std)

    def forward(self, ids, causal=None):
        causal = self.config.causal if causal is None else causal
        t = self.model.transformer
        T = ids.shape[1]
        sin, cos = self.rope_sin[:T], self.rope_cos[:T]
        x = t.wte(ids)
        for block in t.blocks:
            x = block(x, sin, cos, causal)
        return t.ff_out(t.ln_f(x))


LLAMA_BLOCK_NAMES = {
    "attn_norm": "input_layernorm",
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "attn_out": "self_attn.o_proj",
    "ff_norm": "post_attention_layernorm",
    "ff_proj": "mlp.gate_proj",
    "up_proj": "mlp.up_proj",
    "ff_out": "mlp.down_proj",
}
LLAMA_TOP_NAMES = {
    "model.transformer.wte.weight": "model.embed_tokens.weight",
    "model.transformer.ln_f.weight": "model.norm.weight",
    "model.transformer.ff_out.weight": "lm_head.weight",
}


def llama_name(name):
    """LLaDA parameter name -> transformers LlamaForCausalLM parameter name."""
    if name in LLAMA_TOP_NAMES:
        return LLAMA_TOP_NAMES[name]
    m = re.fullmatch(r"model\.transformer\.blocks\.(\d+)\.(\w+)\.weight", name)
    if not m or m.group(2) not in LLAMA_BLOCK_NAMES:
        raise KeyError(name)
    return f"model.layers.{m.group(1)}.{LLAMA_BLOCK_NAMES[m.group(2)]}.weight"


def _save(state, config_json, out):
    from safetensors.torch import save_file
    os.makedirs(out, exist_ok=True)
    save_file({k: v.detach().contiguous().float() for k, v in state.items()},
              os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json, f, indent=2)
        f.write("\n")


def export_llada(model, out):
    _save(model.state_dict(), model.config.llada_json(), out)


def export_llama(model, out):
    _save({llama_name(k): v for k, v in model.state_dict().items()}, model.config.llama_json(), out)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": model.config.eos_token_id, "pad_token_id": model.config.pad_token_id,
                   "do_sample": False}, f, indent=2)
        f.write("\n")


# ----------------------------------------------------------------------------
# Checks against the official implementations
# ----------------------------------------------------------------------------

def official_llada_class(fastdllm_dir=None):
    """Fast-dLLM's LLaDAModelLM, from a directory holding llada/model/, or extracted from the mirror."""
    if fastdllm_dir is None:
        fastdllm_dir = tempfile.mkdtemp(prefix="fastdllm-")
        os.makedirs(os.path.join(fastdllm_dir, "llada", "model"))
        open(os.path.join(fastdllm_dir, "llada", "__init__.py"), "w").close()
        for f in ("__init__.py", "configuration_llada.py", "modeling_llada.py"):
            src = subprocess.run(["git", "--git-dir", FAST_DLLM_GIT, "show", f"{FAST_DLLM_COMMIT}:llada/model/{f}"],
                                 check=True, capture_output=True).stdout
            with open(os.path.join(fastdllm_dir, "llada", "model", f), "wb") as g:
                g.write(src)
    try:
        import einops  # noqa: F401  (imported by modeling_llada; used only by its block-diffusion block)
    except ImportError:
        import types
        sys.modules["einops"] = types.SimpleNamespace(rearrange=None)
    sys.path.insert(0, fastdllm_dir)
    from llada.model import LLaDAConfig as OfficialConfig, LLaDAModelLM
    return OfficialConfig, LLaDAModelLM


def _randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=g))


def check_llada(model, out_dir, fastdllm_dir=None, tol=1e-4):
    """Load out_dir (written by export_llada) into Fast-dLLM's LLaDAModelLM; compare logits with `model`."""
    from safetensors.torch import load_file
    OfficialConfig, LLaDAModelLM = official_llada_class(fastdllm_dir)
    with open(os.path.join(out_dir, "config.json")) as f:
        cfg = OfficialConfig(**json.load(f))
    ref = LLaDAModelLM(cfg, init_params=False).eval()
    missing, unexpected = ref.load_state_dict(load_file(os.path.join(out_dir, "model.safetensors")), strict=False)
    if missing or unexpected:
        raise SystemExit(f"layout mismatch with LLaDAModelLM: missing {missing}, unexpected {unexpected}")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (3, 18), generator=g)
    with torch.no_grad():
        a = model(ids, causal=False)
        b = ref(input_ids=ids, use_cache=False, return_dict=True).logits  # (transformers 5 drops use_cache from this config)
    err = (a - b).abs().max().item()
    print(f"LLaDA vs Fast-dLLM LLaDAModelLM: max |logit diff| = {err:.2e} (max |logit| {b.abs().max().item():.2f})")
    if not err < tol:
        raise SystemExit("LLaDA check FAILED")
    return err


def check_llama(model, out_dir, tol=1e-4):
    """Load out_dir (written by export_llama) with transformers' LlamaForCausalLM; compare logits (causal)."""
    from transformers import LlamaForCausalLM
    ref = LlamaForCausalLM.from_pretrained(out_dir, dtype=torch.float32).eval()
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, model.config.vocab_size, (3, 18), generator=g)
    with torch.no_grad():
        a = model(ids, causal=True)
        b = ref(input_ids=ids, use_cache=False).logits
    err = (a - b).abs().max().item()
    print(f"causal LLaDA vs transformers LlamaForCausalLM: max |logit diff| = {err:.2e} "
          f"(max |logit| {b.abs().max().item():.2f})")
    if not err < tol:
        raise SystemExit("Llama check FAILED")
    return err


def check(fastdllm_dir=None):
    torch.manual_seed(0)
    model = LLaDA(LLaDAConfig()).eval()
    _randomize(model, 0)
    with tempfile.TemporaryDirectory() as tmp:
        export_llada(model, os.path.join(tmp, "llada"))
        check_llada(model, os.path.join(tmp, "llada"), fastdllm_dir)
        export_llama(model, os.path.join(tmp, "llama"))
        check_llama(model, os.path.join(tmp, "llama"))
    # grouped-query variant too (n_kv_heads < n_heads)
    model = LLaDA(LLaDAConfig(n_kv_heads=2)).eval()
    _randomize(model, 1)
    with tempfile.TemporaryDirectory() as tmp:
        export_llada(model, tmp)
        check_llada(model, tmp, fastdllm_dir)
    print("check passed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--fastdllm", default=None,
                        help=f"directory holding Fast-dLLM's llada/model/ (default: extracted from {FAST_DLLM_GIT})")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.check:
        check(args.fastdllm)
    else:
        parser.print_help()
