"""Insertion Language Model (ILM) network, loss and reference decoder for zoo.

Paper: Patel, Sahoo, Amballa, Naseem, Rudner, McCallum, "Insertion Language Models:
Sequence Generation with Arbitrary-Position Insertions", arXiv 2505.05755.
Official code: github.com/dhruvdcoder/ILM (package `pcdd`); written here from the math
(notes/decoders.md section 1), with the official parameter names so that this module's
state_dict equals, key for key, that of the official
`pcdd.models.ilm.RotaryTransformerILMModelWithStoppingClassification`:

  embed_tokens.weight                          nn.Embedding(V, d, padding_idx)
  type_embeddings.weight                       nn.Embedding(2, d, padding_idx=0), unused
                                               (official keep_type_embeddings=True)
  encoder.{i}.norm1.{weight,bias}              LayerNorm (pre-norm, attention)
  encoder.{i}.attn_qkv.weight                  Linear d -> 3d, no bias; q, k, v = chunk(3)
  encoder.{i}.o_proj.weight                    Linear d -> d, no bias
  encoder.{i}.norm2.{weight,bias}              LayerNorm (pre-norm, MLP)
  encoder.{i}.mlp.0.{weight,bias}              Linear d -> ff, ReLU,
  encoder.{i}.mlp.2.{weight,bias}              Linear ff -> d
  encoder.{i}.rotary_emb.inv_freq              buffer, 1 / 10000^(2j / r), j < r/2 (one module
                                               shared by all layers in the official code,
                                               so the key appears once per layer)
  output_layer.norm_final.{weight,bias}        only if final_layer_without_normalization is false
  output_layer.linear.weight                   Linear d -> V, no bias
  length_output_layer.norm_final.{weight,bias} stop head: h = x + mlp(norm_final(x)),
  length_output_layer.mlp.0.{weight,bias}      mlp = Linear(d, 2d), Tanh, Linear(2d, d)
  length_output_layer.mlp.2.{weight,bias}
  length_output_layer.linear.weight            Linear d -> 2, no bias; applied at storage index 0 (CLS)

Sources: src/pcdd/models/ilm.py (BaseRotaryTransformerILMModel,
RotaryTransformerILMModelWithClassification), src/pcdd/modules/rotary_transformer.py
(RotaryTransformerLayer, RotaryTransformerFinalLayer(ForClassification)),
src/pcdd/modules/position.py (RotaryEmbedding: rotate the first rotary_emb_dim dims of each
head, NeoX "half" layout: [x1 cos - x2 sin, x2 cos + x1 sin] with x1, x2 the two halves,
angles = position * inv_freq with explicit (logical) position ids).

Attention is bidirectional with a key-padding mask (attention_mask True = real token).
Output: vocab_logits [B, L, V], entry (i, v) = score of "insert v right after the token at
slot i"; stop_logits [B, 2], class 0 = stop, class 1 = continue.

Loss (notes section 1.3; official ilm_v2.ILMWithStoppingClassificationLossWithMaskedCE and
datamodule.DefaultILMCollator): n ~ U{0..k} of the k droppable tokens are deleted (uniform
subset); for each survivor slot i, c[i, v] = number of deleted tokens with id v between
survivor i and the next survivor; token loss = -sum c[i,v]/n * log softmax over the joint
(slot, token) logits of all surviving non-pad, non-CLS slots; stop loss = CE(stop_logits,
1[n > 0]). The official star-graph run keeps the prompt slots in the softmax (its loss masks
only padding and dropped tokens, "not prefix/constraint", use_constraint false); so does
`ilm_loss` unless use_constraint is set.

Byte-level zoo vocabulary: V = 256, token id = byte value; pad 0, CLS 1, BOS 2, EOS 3, MASK 4.
Input layout: [CLS][BOS] tokens..., logical positions 0..n-1.

    python3 -m training.archs.ilm --check     # self-test (shapes, keys, loss, decoder, export),
                                              # then load into the official class and compare
The official check extracts src/pcdd/{models/ilm.py,modules/rotary_transformer.py,
modules/position.py} from the mirror (ILM_GIT) into a temporary package, stubs the imports it
does not need (jaxtyping, omegaconf, gpt2 model, logger), builds
RotaryTransformerILMModelWithStoppingClassification, and requires identical state_dict keys
and shapes and equal logits (1e-5) for random weights, padding and permuted positions.
"""

import argparse
import dataclasses
import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

ILM_GIT = "/work/.mirror/dhruvdcoder+ILM/repo"

PAD_ID, CLS_ID, BOS_ID, EOS_ID, MASK_ID = 0, 1, 2, 3, 4
SPECIAL_IDS = (PAD_ID, CLS_ID, BOS_ID, EOS_ID, MASK_ID)


@dataclasses.dataclass
class ILMConfig:
    num_embeddings: int = 256
    d_model: int = 128
    num_layers: int = 4
    nhead: int = 4
    dim_feedforward: int = 512
    rotary_emb_dim: int = 32
    max_length: int = 128
    layer_norm_eps: float = 1e-5
    final_layer_without_normalization: bool = True
    dropout: float = 0.0
    padding_idx: int = PAD_ID
    mask_idx: int = MASK_ID
    cls_token_id: int = CLS_ID
    bos_token_id: int = BOS_ID
    eos_token_id: int = EOS_ID

    def to_json(self):
        """config.json as zoo's Swift loader reads it."""
        return {
            "model_type": "ilm",
            "architectures": ["RotaryTransformerILMModelWithStoppingClassification"],
            "num_embeddings": self.num_embeddings,
            "d_model": self.d_model,
            "num_layers": self.num_layers,
            "nhead": self.nhead,
            "dim_feedforward": self.dim_feedforward,
            "activation": "relu",
            "layer_norm_eps": self.layer_norm_eps,
            "rotary_emb_dim": self.rotary_emb_dim,
            "max_length": self.max_length,
            "final_layer_without_normalization": self.final_layer_without_normalization,
            "input_constraint": False,
            "padding_idx": self.padding_idx,
            "mask_idx": self.mask_idx,
            "cls_token_id": self.cls_token_id,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
        }

    @classmethod
    def from_json(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def write_config(config: ILMConfig, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config.to_json(), f, indent=2)
        f.write("\n")


class RotaryEmbedding(nn.Module):
    """RoPE on the first `dim` dims of each head, NeoX half rotation, base 10000, explicit positions."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, x, positions):
        # x [B, H, L, dim]; positions [B, L]
        ang = positions.to(self.inv_freq.dtype)[..., None] * self.inv_freq  # [B, L, dim/2]
        sin, cos = ang.sin().unsqueeze(1), ang.cos().unsqueeze(1)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class RotaryTransformerLayer(nn.Module):
    def __init__(self, c: ILMConfig, rotary_emb: RotaryEmbedding):
        super().__init__()
        d = c.d_model
        self.n_heads = c.nhead
        self.head_dim = d // c.nhead
        self.dropout = c.dropout
        if c.rotary_emb_dim > self.head_dim:
            raise ValueError("rotary_emb_dim > head dim")
        self.norm1 = nn.LayerNorm(d, eps=c.layer_norm_eps)
        self.attn_qkv = nn.Linear(d, 3 * d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.norm2 = nn.LayerNorm(d, eps=c.layer_norm_eps)
        self.mlp = nn.Sequential(nn.Linear(d, c.dim_feedforward), nn.ReLU(), nn.Linear(c.dim_feedforward, d))
        self.rotary_emb = rotary_emb  # registered last, so the key order equals the official one

    def _rope(self, x, positions):
        r = self.rotary_emb.dim
        return torch.cat([self.rotary_emb(x[..., :r], positions), x[..., r:]], dim=-1)

    def forward(self, inp, attention_mask, positions):
        B, L, D = inp.shape
        x = self.norm1(inp)
        q, k, v = self.attn_qkv(x).chunk(3, dim=-1)
        q, k, v = (t.view(B, L, self.n_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        q, k = self._rope(q, positions), self._rope(k, positions)
        mask = None if attention_mask is None else attention_mask[:, None, None, :]
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        a = self.o_proj(a.transpose(1, 2).reshape(B, L, D))
        inp = inp + (F.dropout(a, p) if p else a)
        m = self.mlp(self.norm2(inp))
        return inp + (F.dropout(m, p) if p else m)


class FinalLayer(nn.Module):
    def __init__(self, d, out, eps, use_norm):
        super().__init__()
        self.norm_final = nn.LayerNorm(d, eps=eps) if use_norm else None
        self.linear = nn.Linear(d, out, bias=False)

    def forward(self, x):
        return self.linear(self.norm_final(x) if self.norm_final is not None else x)


class ClassificationLayer(nn.Module):
    def __init__(self, d, out, eps, dropout):
        super().__init__()
        self.norm_final = nn.LayerNorm(d, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.Tanh(), nn.Linear(2 * d, d))
        self.linear = nn.Linear(d, out, bias=False)
        self.dropout = dropout

    def forward(self, x):
        h = self.mlp(self.norm_final(x))
        if self.training and self.dropout:
            h = F.dropout(h, self.dropout)
        return self.linear(x + h)


class ILM(nn.Module):
    """RotaryTransformerILMModelWithStoppingClassification (zoo's own implementation)."""

    def __init__(self, c: ILMConfig):
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.num_embeddings, c.d_model, padding_idx=c.padding_idx)
        rope = RotaryEmbedding(c.rotary_emb_dim)  # shared by all layers, like the official code
        self.encoder = nn.ModuleList([RotaryTransformerLayer(c, rope) for _ in range(c.num_layers)])
        self.output_layer = FinalLayer(c.d_model, c.num_embeddings, c.layer_norm_eps,
                                       not c.final_layer_without_normalization)
        self.type_embeddings = nn.Embedding(2, c.d_model, padding_idx=0)
        self.length_output_layer = ClassificationLayer(c.d_model, 2, c.layer_norm_eps, c.dropout)

    def forward(self, x, attention_mask=None, positions=None):
        """x [B, L] ids (storage order); attention_mask [B, L] bool (True = real); positions [B, L]
        logical positions. Returns (vocab_logits [B, L, V], stop_logits [B, 2])."""
        if positions is None:
            positions = torch.arange(x.shape[1], device=x.device).expand_as(x)
        if attention_mask is not None:
            attention_mask = attention_mask.to(torch.bool)
        h = self.embed_tokens(x)
        for block in self.encoder:
            h = block(h, attention_mask, positions)
        return self.output_layer(h), self.length_output_layer(h[:, 0])


def export_ilm(model: ILM, out_dir):
    """Write out_dir/config.json and out_dir/model.safetensors (float32, keys = state_dict keys)."""
    from safetensors.torch import save_file
    write_config(model.config, out_dir)
    # clone: the shared rotary buffer appears once per layer and safetensors refuses shared storage
    state = {k: v.detach().float().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})


def load_ilm(out_dir):
    from safetensors.torch import load_file
    with open(os.path.join(out_dir, "config.json")) as f:
        c = ILMConfig.from_json(json.load(f))
    m = ILM(c)
    m.load_state_dict(load_file(os.path.join(out_dir, "model.safetensors")))
    return m.eval()


# ----------------------------------------------------------------------------
# Training loss
# ----------------------------------------------------------------------------

def ilm_loss(model, ids, non_pad, droppable, gen=None, constraint=None, use_constraint=False,
             stop_weight=1.0, stop_class_weight=None, return_parts=False):
    """Denoising-by-deletion loss (notes section 1.3).

    ids [B, L]: clean sequences, [CLS][BOS] ... with padding; non_pad [B, L] bool;
    droppable [B, L] bool: tokens that may be deleted (for star graphs: the answer only).
    Like the official loss, deleted tokens stay in storage with the attention mask off and
    positions = cumsum(survivors) - 1 (the same as removing them).
    """
    B, L = ids.shape
    dev = ids.device
    k = droppable.sum(-1)                                                     # [B]
    n = torch.floor(torch.rand(B, generator=gen, device=dev) * (k + 1).float()).long()  # U{0..k}
    r = torch.rand(B, L, generator=gen, device=dev)
    r = torch.where(droppable, r, torch.full_like(r, 2.0))
    rank = r.argsort(-1).argsort(-1)
    drop = (rank < n[:, None]) & droppable
    keep = non_pad & ~drop
    positions = (keep.long().cumsum(-1) - 1).clamp(min=0)
    x_t = torch.where(drop, torch.full_like(ids, model.config.mask_idx), ids)
    logits, stop_logits = model(x_t, keep, positions)
    # slot of each deleted token: the last survivor before it
    idx = torch.where(keep, torch.arange(L, device=dev).expand(B, L), torch.full((B, L), -1, device=dev))
    prev_keep = idx.cummax(-1).values
    V = logits.shape[-1]
    counts = torch.zeros(B, L * V, device=dev)
    flat = (prev_keep.clamp(min=0) * V + ids)
    counts.scatter_add_(1, flat, drop.float())
    counts = counts.view(B, L, V)
    slot_ok = keep.clone()
    slot_ok[:, 0] = False                                                     # CLS slot
    if use_constraint and constraint is not None:
        slot_ok &= ~constraint
    masked = logits.float().masked_fill(~slot_ok[..., None], float("-inf"))
    logp = masked.view(B, -1).log_softmax(-1).view(B, L, V)
    p_target = counts / (n[:, None, None].float() + 1e-9)
    tok = -torch.where(counts > 0, p_target * logp, torch.zeros_like(logp)).sum((1, 2))
    w = None if stop_class_weight is None else torch.tensor([stop_class_weight, 1 - stop_class_weight], device=dev)
    stop = stop_weight * F.cross_entropy(stop_logits.float(), (n > 0).long(), weight=w, reduction="none")
    loss = (tok + stop).mean()
    if return_parts:
        return loss, tok.mean().detach(), stop.mean().detach()
    return loss


# ----------------------------------------------------------------------------
# Reference decoder
# ----------------------------------------------------------------------------

def prompt_layout(prompt_ids):
    """[CLS][BOS] prompt; constraint: CLS, BOS and every prompt token but the last are constrained
    (insertions only after the prompt's last token, or after BOS when the prompt is empty)."""
    ids = [CLS_ID, BOS_ID] + list(prompt_ids)
    constraint = [True] * len(ids)
    constraint[-1] = False
    return ids, constraint


@torch.no_grad()
def ilm_greedy(model, prompts, stop_threshold=0.5, max_steps=64, max_length=None, return_steps=False):
    """Greedy ILM decoding, one insertion per forward pass (notes section 1.4; official
    ilm_v2.ILMPredictorWithLengthClassification._predict_single_step with position top-1 and
    token top-1): slot = argmax_i logsumexp_v logits[i, v], token = argmax_v logits[slot, v];
    special ids, pad, CLS and constrained slots masked; a sequence stops when
    softmax(stop_logits)[0] >= stop_threshold, at max_length tokens, or after max_steps
    insertions. The new token is appended in storage with logical position pos[slot] + 1 and
    the positions after it are shifted.

    prompts: list of lists of byte ids. Returns a list of lists of ids in logical order
    (without CLS/BOS: the prompt followed by / interleaved with the insertions), and with
    return_steps also the number of forward passes per prompt.
    """
    model.eval()
    max_length = max_length or model.config.max_length
    B = len(prompts)
    lays = [prompt_layout(p) for p in prompts]
    L0 = max(len(a) for a, _ in lays)
    x = torch.full((B, L0), PAD_ID)
    mask = torch.zeros(B, L0, dtype=torch.bool)
    cons = torch.ones(B, L0, dtype=torch.bool)
    pos = torch.zeros(B, L0, dtype=torch.long)
    for b, (a, c) in enumerate(lays):
        x[b, :len(a)] = torch.tensor(a)
        mask[b, :len(a)] = True
        cons[b, :len(a)] = torch.tensor(c)
        pos[b, :len(a)] = torch.arange(len(a))
    active = torch.ones(B, dtype=torch.bool)
    steps = torch.zeros(B, dtype=torch.long)
    special = torch.tensor(SPECIAL_IDS)
    for step in range(max_steps + 1):
        logits, stop_logits = model(x, mask, pos)
        steps += active.long()
        p_stop = stop_logits.float().softmax(-1)[:, 0]
        active = active & (p_stop < stop_threshold) & (mask.sum(-1) < max_length)
        if step == max_steps:
            active[:] = False
        if not active.any():
            break
        lg = logits.float().clone()
        lg[:, :, special] = float("-inf")
        lg = lg.masked_fill((~mask | cons)[..., None], float("-inf"))
        slot = lg.logsumexp(-1).argmax(-1)                                   # [B]
        tok = lg[torch.arange(B), slot].argmax(-1)                           # [B]
        ps = pos[torch.arange(B), slot]
        shift = active[:, None] & mask & (pos > ps[:, None])
        pos = pos + shift.long()
        x = torch.cat([x, torch.where(active, tok, torch.full_like(tok, PAD_ID))[:, None]], 1)
        mask = torch.cat([mask, active[:, None]], 1)
        cons = torch.cat([cons, torch.zeros(B, 1, dtype=torch.bool)], 1)
        pos = torch.cat([pos, torch.where(active, ps + 1, torch.zeros_like(ps))[:, None]], 1)
    outs = []
    for b in range(B):
        m = mask[b]
        order = pos[b][m].argsort()
        seq = x[b][m][order].tolist()
        outs.append(seq[2:])
    return (outs, steps.tolist()) if return_steps else outs


# ----------------------------------------------------------------------------
# Self-test
# ----------------------------------------------------------------------------

def expected_keys(c: ILMConfig):
    keys = ["embed_tokens.weight"]
    for i in range(c.num_layers):
        p = f"encoder.{i}."
        keys += [p + "norm1.weight", p + "norm1.bias", p + "rotary_emb.inv_freq", p + "attn_qkv.weight",
                 p + "o_proj.weight", p + "norm2.weight", p + "norm2.bias", p + "mlp.0.weight",
                 p + "mlp.0.bias", p + "mlp.2.weight", p + "mlp.2.bias"]
    if not c.final_layer_without_normalization:
        keys += ["output_layer.norm_final.weight", "output_layer.norm_final.bias"]
    keys += ["output_layer.linear.weight", "type_embeddings.weight",
             "length_output_layer.norm_final.weight", "length_output_layer.norm_final.bias",
             "length_output_layer.mlp.0.weight", "length_output_layer.mlp.0.bias",
             "length_output_layer.mlp.2.weight", "length_output_layer.mlp.2.bias",
             "length_output_layer.linear.weight"]
    return keys


def check():
    import tempfile
    torch.manual_seed(0)
    for fl in (True, False):
        c = ILMConfig(d_model=32, num_layers=2, nhead=2, dim_feedforward=64, rotary_emb_dim=8,
                      max_length=32, final_layer_without_normalization=fl)
        m = ILM(c).eval()
        assert sorted(m.state_dict().keys()) == sorted(expected_keys(c)), sorted(m.state_dict().keys())
        ids = torch.randint(5, 256, (3, 12))
        ids[:, 0], ids[:, 1] = CLS_ID, BOS_ID
        lg, st = m(ids, torch.ones(3, 12, dtype=torch.bool), torch.arange(12).expand(3, 12))
        assert lg.shape == (3, 12, 256) and st.shape == (3, 2)
        # storage order is irrelevant given positions: permute storage, same logits
        perm = torch.tensor([0, 1] + (torch.randperm(10) + 2).tolist())
        lg2, st2 = m(ids[:, perm], None, torch.arange(12)[perm].expand(3, 12))
        assert torch.allclose(lg2, lg[:, perm], atol=1e-5) and torch.allclose(st2, st, atol=1e-5)
        # padding is invisible
        ids_p = torch.cat([ids, torch.zeros(3, 4, dtype=torch.long)], 1)
        mk = torch.cat([torch.ones(3, 12, dtype=torch.bool), torch.zeros(3, 4, dtype=torch.bool)], 1)
        lg3, _ = m(ids_p, mk, torch.cat([torch.arange(12), torch.zeros(4, dtype=torch.long)]).expand(3, 16))
        assert torch.allclose(lg3[:, :12], lg, atol=1e-5)
        # loss: finite, and 0 token loss when nothing droppable
        m.train()
        droppable = torch.zeros(3, 12, dtype=torch.bool)
        droppable[:, 8:] = True
        loss, tok, stp = ilm_loss(m, ids, torch.ones(3, 12, dtype=torch.bool), droppable, return_parts=True)
        assert torch.isfinite(loss)
        loss.backward()
        _, tok0, _ = ilm_loss(m, ids, torch.ones(3, 12, dtype=torch.bool), torch.zeros(3, 12, dtype=torch.bool),
                              return_parts=True)
        assert tok0.item() == 0.0
        m.eval()
        outs, steps = ilm_greedy(m, [[ord("a"), ord("b")], [ord("x")]], stop_threshold=0.99, max_steps=5,
                                 return_steps=True)
        assert len(outs[0]) == 7 and outs[0][:2] == [ord("a"), ord("b")] and steps == [6, 6]
        with tempfile.TemporaryDirectory() as tmp:
            export_ilm(m, tmp)
            m2 = load_ilm(tmp)
            from safetensors.torch import load_file
            assert sorted(load_file(os.path.join(tmp, "model.safetensors")).keys()) == sorted(expected_keys(c))
            assert torch.equal(m2(ids)[0], m(ids)[0])
    print("check passed")


def official_ilm_class(git_dir=ILM_GIT):
    import subprocess
    import sys
    import tempfile
    root = tempfile.mkdtemp(prefix="ilm-official-")
    files = {"pcdd/models/ilm.py": "src/pcdd/models/ilm.py",
             "pcdd/modules/rotary_transformer.py": "src/pcdd/modules/rotary_transformer.py",
             "pcdd/modules/position.py": "src/pcdd/modules/position.py"}
    stubs = {
        "jaxtyping/__init__.py": "class _T:\n    def __getitem__(self, k): return object\nBool = Float = Integer = _T()\n",
        "omegaconf/__init__.py": "class DictConfig: pass\n",
        "pcdd/__init__.py": "", "pcdd/models/__init__.py": "", "pcdd/modules/__init__.py": "",
        "pcdd/utils/__init__.py": "",
        "pcdd/utils/nn.py": "def get_autocast_dtype(*a, **k): return None\n",
        "pcdd/utils/rank_zero.py": ("import logging\nclass RankedLogger(logging.LoggerAdapter):\n"
                                    "    def __init__(self, name, rank_zero_only=True):\n"
                                    "        super().__init__(logging.getLogger(name), {})\n"),
        "pcdd/modules/gpt2_transformer.py": "class GPT: pass\nclass GPTConfig: pass\n",
        "pcdd/models/model.py": "class Model: pass\n",
    }
    for dst, src in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, dst)), exist_ok=True)
        text = subprocess.run(["git", "--git-dir", git_dir, "show", f"HEAD:{src}"], check=True,
                              capture_output=True).stdout
        open(os.path.join(root, dst), "wb").write(text)
    for dst, text in stubs.items():
        os.makedirs(os.path.dirname(os.path.join(root, dst)), exist_ok=True)
        open(os.path.join(root, dst), "w").write(text)
    sys.path.insert(0, root)
    from pcdd.models.ilm import RotaryTransformerILMModelWithStoppingClassification
    return RotaryTransformerILMModelWithStoppingClassification


def check_official(git_dir=ILM_GIT):
    cls = official_ilm_class(git_dir)
    g = torch.Generator().manual_seed(3)
    for fl in (True, False):
        c = ILMConfig(d_model=64, num_layers=2, nhead=4, dim_feedforward=96, rotary_emb_dim=8,
                      max_length=40, final_layer_without_normalization=fl)
        ours = ILM(c).eval()
        with torch.no_grad():
            for name, p in ours.named_parameters():
                p.copy_(0.1 * torch.randn(p.shape, generator=g) + (1.0 if name.endswith("norm1.weight") else 0.0))
        ref = cls(num_embeddings=c.num_embeddings, d_model=c.d_model, num_layers=c.num_layers, nhead=c.nhead,
                  padding_idx=c.padding_idx, mask_idx=c.mask_idx, dim_feedforward=c.dim_feedforward, dropout=0.0,
                  activation="relu", layer_norm_eps=c.layer_norm_eps, rotary_emb_dim=c.rotary_emb_dim,
                  max_length=c.max_length, final_layer_without_normalization=fl).eval()
        a, b = ours.state_dict(), ref.state_dict()
        if list(a.keys()) != list(b.keys()) or any(a[k].shape != b[k].shape for k in a):
            raise SystemExit(f"state_dict mismatch:\nours {list(a.keys())}\nofficial {list(b.keys())}")
        ref.load_state_dict(a)
        B, L = 3, 20
        ids = torch.randint(5, 256, (B, L), generator=g)
        ids[:, 0], ids[:, 1] = CLS_ID, BOS_ID
        mask = torch.ones(B, L, dtype=torch.bool)
        mask[1, 15:] = False
        mask[2, 5:9] = False
        pos = torch.stack([torch.randperm(L, generator=g) for _ in range(B)])
        with torch.no_grad():
            l1, s1 = ours(ids, mask, pos)
            l2, s2 = ref(ids, mask, pos)
        err = max((l1 - l2)[mask].abs().max().item(), (s1 - s2).abs().max().item())
        print(f"official RotaryTransformerILMModelWithStoppingClassification (final norm {not fl}): "
              f"{len(a)} keys identical, max |diff| {err:.2e} (max |logit| {l2.abs().max().item():.2f})")
        if not err < 1e-5:
            raise SystemExit("official check FAILED")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.check:
        check()
        check_official()
    else:
        ap.print_help()
