"""GAM (Gated Associative Memory, Acharya 2025, arXiv 2509.00605) in PyTorch, for training.

Written from the block's math (see Plugins/GAM/README.md), not copied from the official
code, but with the parameter names of github.com/rishiraj/gam @ 2ebb82e `GAM_Model`, so
`state_dict()` keys are the official ones and zoo's `gam` plugin loads what `export`
writes. The initialisation follows the official one: PyTorch defaults, a xavier-uniform
memory bank, and the embedding tied to (and initialised as) the head.

    build(args)              -> GAM, byte-level (vocabulary 256)
    GAM.forward(ids)         -> logits [B, T, 256]
    export(model, out_dir)   -> config.json (official ModelConfig names + model_type) and model.safetensors

    python3 -m training.archs.gam --check   # loads the official fixture and reproduces its logits
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass
class GAMConfig:
    """The official ModelConfig fields, under their names (config.json keys)."""
    VOCAB_SIZE: int = 10000
    BLOCK_SIZE: int = 256
    N_EMBED: int = 512
    N_LAYER: int = 6
    DROPOUT: float = 0.1
    NUM_MEMORY_SLOTS: int = 512
    CONV_KERNEL_SIZE: int = 3


class GAMBlock(nn.Module):
    """x += σ(g_l)·conv(x̂) + σ(g_g)·softmax(x̂Mᵀ)M with x̂ = LN1(x); then x += FFN(LN2(x))."""

    def __init__(self, cfg: GAMConfig):
        super().__init__()
        d = cfg.N_EMBED
        self.kernel = cfg.CONV_KERNEL_SIZE
        # Depthwise; padding is applied on the left only in forward (causal), so the module's
        # own padding stays 0. Its weight/bias shapes are the official [D, 1, k] and [D].
        self.causal_conv = nn.Conv1d(d, d, cfg.CONV_KERNEL_SIZE, groups=d)
        self.memory_bank = nn.Parameter(torch.empty(cfg.NUM_MEMORY_SLOTS, d))
        nn.init.xavier_uniform_(self.memory_bank)
        self.gate = nn.Linear(d, 2 * d)
        self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(cfg.DROPOUT))
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)

    def forward(self, x):
        h = self.ln1(x)
        local = self.causal_conv(F.pad(h.transpose(1, 2), (self.kernel - 1, 0))).transpose(1, 2)
        weights = torch.softmax(h @ self.memory_bank.t(), dim=-1)
        memory = weights @ self.memory_bank
        g_local, g_memory = self.gate(h).split(h.size(-1), dim=-1)
        x = x + torch.sigmoid(g_local) * local + torch.sigmoid(g_memory) * memory
        return x + self.ffn(self.ln2(x))


class GAM(nn.Module):
    """Token + learned position embedding, GAM blocks, final LayerNorm, tied head."""

    def __init__(self, cfg: GAMConfig):
        super().__init__()
        self.config = cfg
        self.token_embedding = nn.Embedding(cfg.VOCAB_SIZE, cfg.N_EMBED)
        self.pos_embedding = nn.Embedding(cfg.BLOCK_SIZE, cfg.N_EMBED)
        self.dropout = nn.Dropout(cfg.DROPOUT)
        self.blocks = nn.ModuleList(GAMBlock(cfg) for _ in range(cfg.N_LAYER))
        self.ln_f = nn.LayerNorm(cfg.N_EMBED)
        self.head = nn.Linear(cfg.N_EMBED, cfg.VOCAB_SIZE, bias=False)
        # Tied: one Parameter with the head's (nn.Linear) initialisation, as the official model.
        self.token_embedding.weight = self.head.weight

    def forward(self, ids):
        t = ids.size(1)
        if t > self.config.BLOCK_SIZE:
            raise ValueError(f"{t} tokens exceed BLOCK_SIZE = {self.config.BLOCK_SIZE} learned positions")
        x = self.token_embedding(ids) + self.pos_embedding(torch.arange(t, device=ids.device))
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def build(args):
    """A byte-level GAM of about 1.7M parameters (under train.py's 10 MB limit).

    BLOCK_SIZE is the training window (--seq-len, default 256): positions past it would have
    untrained embeddings, and zoo refuses positions past BLOCK_SIZE.
    """
    cfg = GAMConfig(VOCAB_SIZE=256, BLOCK_SIZE=getattr(args, "seq_len", 256), N_EMBED=192, N_LAYER=4,
                    DROPOUT=0.1, NUM_MEMORY_SLOTS=128, CONV_KERNEL_SIZE=3)
    return GAM(cfg)


def export(model, out_dir):
    """Writes config.json (the official ModelConfig names plus model_type) and model.safetensors.

    safetensors' save_model stores the tied embedding/head pair once, under head.weight;
    zoo's gam plugin uses that key for both.
    """
    from safetensors.torch import save_model

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump({"model_type": "gam", **dataclasses.asdict(model.config)}, f, indent=2)
        f.write("\n")
    save_model(model, os.path.join(out_dir, "model.safetensors"))


def fixture_dir():
    env = os.environ.get("ZOO_FIXTURES")
    root = env or os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures")
    return os.path.join(root, "gam")


def check():
    """Loads the official fixture into this module and compares logits; then round-trips export."""
    from safetensors.torch import load_file

    folder = fixture_dir()
    with open(os.path.join(folder, "config.json")) as f:
        cfg = GAMConfig(**json.load(f))
    model = GAM(cfg).eval()
    official = load_file(os.path.join(folder, "weights.safetensors"))
    missing, unexpected = model.load_state_dict(official, strict=True)
    assert not missing and not unexpected, (missing, unexpected)
    io = load_file(os.path.join(folder, "io.safetensors"))
    with torch.no_grad():
        logits = model(io["input_ids"])
    err = (logits - io["logits"]).abs().max().item()
    print(f"gam fixture logits: max abs error {err:.2e}")
    ok = err < 1e-4

    with tempfile.TemporaryDirectory() as tmp:
        export(model, tmp)
        stored = load_file(os.path.join(tmp, "model.safetensors"))
        with open(os.path.join(tmp, "config.json")) as f:
            config = json.load(f)
    expected_keys = set(official) - {"token_embedding.weight"}
    same = set(stored) == expected_keys and all(torch.equal(stored[k], official[k]) for k in expected_keys)
    print(f"export: {len(stored)} tensors under the official names (head.weight for the tied pair): "
          f"{'ok' if same else 'MISMATCH'}; config.json keys {sorted(config)}")
    ok = ok and same and config == {"model_type": "gam", **dataclasses.asdict(cfg)}
    print("check passed" if ok else "check FAILED")
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="reproduce the official fixture's logits")
    if parser.parse_args().check:
        sys.exit(0 if check() else 1)
    parser.print_help()
