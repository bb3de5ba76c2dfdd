#!/usr/bin/env python3
"""Build zoo's ilm-tiny parity fixture from the OFFICIAL Insertion Language Model code.

    git -C <mirror of dhruvdcoder/ILM> archive 04f78bd | tar -x -C /tmp/ilm-official
    python3 -m venv --system-site-packages /tmp/venv-ilm
    /tmp/venv-ilm/bin/pip install jaxtyping omegaconf lightning-utilities
    /tmp/venv-ilm/bin/python Tests/Fixtures/ilm-tiny/make_fixture.py [OUT]   # OUT defaults to this folder

Official code: github.com/dhruvdcoder/ILM at commit
04f78bd143bf44cd6fc4386f8eb8eadc8b2e3f99, unpacked (unmodified) at $ILM_OFFICIAL
(default /tmp/ilm-official). Needs torch 2.x (CPU is enough), safetensors, and the three
small packages above (jaxtyping: the official files evaluate jaxtyping annotations at
import time; omegaconf: imported by rotary_transformer.py; lightning-utilities: imported
by pcdd/utils/rank_zero.py). Tested with torch 2.15, jaxtyping 0.3.11, omegaconf 2.4.0,
lightning-utilities 0.15.3.

What runs official, unmodified:
  * src/pcdd/models/ilm.py            RotaryTransformerILMModelWithStoppingClassification
  * src/pcdd/modules/rotary_transformer.py, position.py (layers, RoPE, final layers)
  * src/pcdd/diffusion/ilm_v2.py       ILMPredictorWithStoppingClassification
                                       (predict, _predict_single_step, _compute_stopping_mask, _stop, decode)
  * src/pcdd/diffusion/nn.py           general_sample_over_last_two_dims, sample_over_last_two_dims
  * src/pcdd/utils/nn.py               sample_from_top_k
  * src/pcdd/datamodule/lm1b.py        ilm_infilling_processing_fn (infill constraints), and
    src/pcdd/datamodule/datamodule.py  ids_to_example_fn: both are lifted out of their files
                                       with `ast` (their modules import datasets/torchdata/lightning).
Stubs (modules the official files import but that the code exercised here never touches):
  hydra, torchmetrics(.classification), pcdd.datamodule.datamodule (ILMBatch, Tokenizer are
  only type annotations), pcdd.diffusion.lightning_module_v2 (LossFunction, Predictor, and
  BaseLightningModule are only base classes / Protocols), pcdd.diffusion.idlm_v2 (missing
  from the repository; ilm_v2.py imports Parsable from it for its CFG module). The pcdd subpackages are
  registered as bare packages so that their __init__.py files (which import every model
  in the repo) do not run. The tokenizer is a 32-entry stand-in with the special ids
  of config.json; its build_inputs_with_special_tokens / create_token_type_ids_from_sequences
  copy the ILM tokenizer mixin of datamodule.py (lines 398-425).
"""
import ast
import json
import os
import sys
import types
from typing import Any, Dict, Generic, List, Literal, Optional, TypeVar

import torch
import torch.nn.functional as F

torch.set_num_threads(1)

OFFICIAL = os.environ.get("ILM_OFFICIAL", "/tmp/ilm-official")
SRC = os.path.join(OFFICIAL, "src")
PCDD = os.path.join(SRC, "pcdd")
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else HERE
OFFICIAL_COMMIT = "04f78bd143bf44cd6fc4386f8eb8eadc8b2e3f99"

PAD, CLS, BOS, EOS, MASK = 0, 1, 2, 3, 4
VOCAB = 32
CONFIG = {
    "model_type": "ilm",
    "architectures": ["RotaryTransformerILMModelWithStoppingClassification"],
    "num_embeddings": VOCAB, "d_model": 32, "num_layers": 2, "nhead": 4,
    "dim_feedforward": 64, "activation": "relu", "layer_norm_eps": 1e-5,
    "rotary_emb_dim": 4, "max_length": 64, "final_layer_without_normalization": False,
    "input_constraint": False, "padding_idx": PAD, "mask_idx": MASK,
    "cls_token_id": CLS, "bos_token_id": BOS, "eos_token_id": EOS,
}


# ---------------------------------------------------------------- import the official code
def _stub(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


def _bare_package(name, path):
    mod = types.ModuleType(name)
    mod.__path__ = [path]
    mod.__package__ = name
    sys.modules[name] = mod
    return mod


class _Anything:
    def __init__(self, *a, **k):
        pass


_T1, _T2 = TypeVar("_T1"), TypeVar("_T2")


class _GenericStub(Generic[_T1, _T2]):
    pass


_stub("hydra", utils=types.SimpleNamespace(instantiate=None))
_stub("torchmetrics", MeanMetric=_Anything, MeanAbsolutePercentageError=_Anything,
      MeanSquaredError=_Anything, Perplexity=_Anything)
_stub("torchmetrics.classification", BinaryAccuracy=_Anything)
for sub in ["", ".models", ".modules", ".diffusion", ".utils", ".noise_schedule", ".datamodule"]:
    _bare_package("pcdd" + sub, os.path.join(PCDD, *sub.split(".")[1:]))
_stub("pcdd.datamodule.datamodule", ILMBatch=dict, Tokenizer=object)
_stub("pcdd.diffusion.lightning_module_v2", BaseLightningModule=torch.nn.Module,
      LossFunction=_GenericStub, Predictor=_GenericStub)
# ilm_v2.py line 3257 does `from .idlm_v2 import Parsable`, but idlm_v2.py is not in the
# repository at 04f78bd: the file cannot be imported as committed without this stub.
_stub("pcdd.diffusion.idlm_v2", Parsable=_Anything)

from pcdd.models.ilm import RotaryTransformerILMModelWithStoppingClassification  # noqa: E402
from pcdd.diffusion import ilm_v2  # noqa: E402
from pcdd.diffusion.ilm_v2 import ILMPredictorWithStoppingClassification  # noqa: E402


def _lift_functions(path, names, namespace):
    """exec the named top-level functions of an official file (source unchanged)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            code = compile(ast.Module(body=[node], type_ignores=[]), path, "exec")
            exec(code, namespace)
    missing = [n for n in names if n not in namespace]
    assert not missing, missing
    return namespace


_data_ns = _lift_functions(os.path.join(PCDD, "datamodule", "datamodule.py"), ["ids_to_example_fn"],
                           {"Dict": Dict, "List": List, "Literal": Literal, "Optional": Optional,
                            "PreTrainedTokenizerBase": object})
_data_ns["Any"] = Any
_lift_functions(os.path.join(PCDD, "datamodule", "lm1b.py"), ["ilm_infilling_processing_fn"], _data_ns)
ilm_infilling_processing_fn = _data_ns["ilm_infilling_processing_fn"]


class TinyTokenizer:
    """32 ids: 0 [PAD] 1 [CLS] 2 [BOS] 3 [EOS] 4 [MASK], 5..31 't5'..'t31'."""
    pad_token, cls_token, bos_token, eos_token, mask_token = "[PAD]", "[CLS]", "[BOS]", "[EOS]", "[MASK]"
    pad_token_id, cls_token_id, bos_token_id, eos_token_id, mask_token_id = PAD, CLS, BOS, EOS, MASK
    vocab = [pad_token, cls_token, bos_token, eos_token, mask_token] + [f"t{i}" for i in range(5, VOCAB)]

    def convert_tokens_to_ids(self, tokens):
        if isinstance(tokens, str):
            return self.vocab.index(tokens)
        return [self.vocab.index(t) for t in tokens]

    # as the ILM tokenizer mixin in pcdd/datamodule/datamodule.py (lines 398-425)
    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        assert token_ids_1 is None
        return [self.cls_token_id, self.bos_token_id] + list(token_ids_0)

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        assert token_ids_1 is None
        return [0, 1] + [2] * len(token_ids_0)

    def batch_decode(self, ids, skip_special_tokens=False):
        out = []
        for row in ids.tolist():
            out.append(" ".join(self.vocab[i] for i in row if not (skip_special_tokens and i < 5)))
        return out


TOKENIZER = TinyTokenizer()


# ---------------------------------------------------------------- model
def build_model():
    torch.manual_seed(0)
    model = RotaryTransformerILMModelWithStoppingClassification(
        num_embeddings=CONFIG["num_embeddings"], d_model=CONFIG["d_model"],
        num_layers=CONFIG["num_layers"], nhead=CONFIG["nhead"], padding_idx=PAD, mask_idx=MASK,
        dim_feedforward=CONFIG["dim_feedforward"], dropout=0.1, activation=CONFIG["activation"],
        layer_norm_eps=CONFIG["layer_norm_eps"], rotary_emb_dim=CONFIG["rotary_emb_dim"],
        max_length=CONFIG["max_length"],
        final_layer_without_normalization=CONFIG["final_layer_without_normalization"],
    ).float().eval()
    gen = torch.Generator().manual_seed(WEIGHT_SEED)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            z = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "norm" in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.2 * z)          # LayerNorm gains around 1
            else:
                p.copy_(0.2 * z)                # everything else, biases included
    assert model.output_layer.norm_final is not None
    assert not model.training
    return model


WEIGHT_SEED = int(os.environ.get("ILM_TINY_WEIGHT_SEED", "4"))


def forward(model, tokens, positions):
    x = torch.tensor([tokens], dtype=torch.long)
    pos = torch.tensor([positions], dtype=torch.long)
    mask = torch.ones_like(x, dtype=torch.bool)
    with torch.no_grad():
        vocab_logits, stop_logits = model(x, mask, positions=pos)
    return vocab_logits[0], stop_logits[0]


# ---------------------------------------------------------------- decoding with the official predictor
def make_predictor(model, *, threshold, max_steps, joint=False):
    kwargs = dict(max_steps=max_steps, max_length=CONFIG["max_length"], stopping_threshold=threshold,
                  tokenizer=TOKENIZER, sampling_method="sample_top_k", top=1, model=model)
    if not joint:
        kwargs.update(second_sampling_method="sample_top_k", second_top=1)
    pred = ILMPredictorWithStoppingClassification(**kwargs)
    # default tokens_to_suppress of ILMPredictorWithLengthClassification: MASK, EOS, PAD, CLS, BOS
    assert sorted(pred.token_ids_to_suppress.tolist()) == [0, 1, 2, 3, 4]
    return pred


def _margins(logits, allowed, joint):
    """Diagnostics only (not used for any expected value): gaps between the best and the
    runner-up choice, so a Swift port knows how much float error the greedy picks tolerate."""
    lg = logits.clone()
    lg[:, :5] = -torch.inf
    lg[~allowed] = -torch.inf
    if joint:
        top = lg.flatten().topk(2).values
        return {"joint": float(top[0] - top[1])}
    marg = torch.logsumexp(lg, dim=-1)
    top = marg.topk(min(2, int(allowed.sum()))).values
    slot = None if top.numel() < 2 else float(top[0] - top[1])
    row = lg[marg.argmax()].topk(2).values
    return {"slot": slot, "token": float(row[0] - row[1])}


def run_decode(model, input_ids, constraint, *, threshold, max_steps, joint=False):
    pred = make_predictor(model, threshold=threshold, max_steps=max_steps, joint=joint)
    calls = {"n": 0, "p_stop": []}

    def count(_m, _inp, out):
        calls["n"] += 1
        calls["p_stop"].append(float(torch.softmax(out[1], dim=-1)[0, 0]))
        calls["logits"] = out[0][0].clone()  # before the predictor's in-place suppression

    handle = model.register_forward_hook(count)
    steps = []
    state = {}
    official_step = pred._predict_single_step  # bound official method

    def recording_step(step_results, current_step):
        before = step_results["x"].shape[-1]
        allowed = ~step_results["constraint"][0]
        res = official_step(step_results, current_step)
        if res["x"].shape[-1] > before:
            assert bool(res["predict"][0])
            tok = int(res["x"][0, -1])
            new_pos = int(res["positions"][0, -1])
            steps.append({"call": calls["n"], "slot_position": new_pos - 1, "token": tok,
                          "new_position": new_pos, "p_stop": calls["p_stop"][-1],
                          "margins": _margins(calls["logits"], allowed, joint)})
        state["x"], state["positions"] = res["x"][0].tolist(), res["positions"][0].tolist()
        return res

    pred._predict_single_step = recording_step
    batch = {
        "input_ids": torch.tensor([input_ids], dtype=torch.long),
        "attention_mask": torch.ones((1, len(input_ids)), dtype=torch.long),
        "token_type_ids": torch.tensor([[0, 1] + [2] * (len(input_ids) - 2)], dtype=torch.long),
        "constraint": torch.tensor([constraint], dtype=torch.bool),
    }
    torch.manual_seed(0)  # top-1 is deterministic; the Gumbel noise it draws is irrelevant
    with torch.no_grad():
        out = pred.predict(batch)
    handle.remove()
    final_ids = out["ids"][0].tolist()
    final_mask = out["attention_mask"][0].tolist()
    assert all(final_mask), "single-sequence decodes never add masked slots"
    assert out["positions"][0].tolist() == list(range(len(final_ids)))
    stopped_by_head = any(p >= threshold for p in calls["p_stop"])
    return {
        "output_tokens": final_ids,               # logical order (official decode() sorts by position)
        "final_storage_tokens": state["x"],         # official storage order: input, then one append per step
        "final_storage_positions": state["positions"],
        "insertions": steps,
        "num_inserted": len(steps),
        "model_calls": calls["n"],
        "p_stop_per_call": calls["p_stop"],
        "stopped_by_stop_head": stopped_by_head,
    }


def infill_input(tokens, infill_mask):
    """Official ilm_infilling_processing_fn on body tokens + a 0/1 mask of tokens to remove."""
    example = {"tokenized_text": [f"t{t}" for t in tokens], "mask": list(infill_mask)}
    ex = ilm_infilling_processing_fn(example, TOKENIZER)
    return ex["input_ids"], [bool(c) for c in ex["constraint"]]


def main():
    from safetensors.torch import save_file

    os.makedirs(OUT, exist_ok=True)
    model = build_model()
    state = model.state_dict()
    # encoder.{0,1}.rotary_emb is ONE shared module, so its inv_freq buffer appears under both
    # keys as the same tensor; safetensors refuses shared storage, hence the clone (values unchanged).
    save_file({k: v.detach().clone().contiguous() for k, v in state.items()},
              os.path.join(OUT, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")

    # ------------------------------------------------------------ forward cases
    gen = torch.Generator().manual_seed(7)
    tensors = {}
    forward_cases = []

    def body(n):
        return torch.randint(5, VOCAB, (n,), generator=gen).tolist()

    def add_forward(name, tokens, positions, note):
        vl, sl = forward(model, tokens, positions)
        tensors[f"{name}.tokens"] = torch.tensor(tokens, dtype=torch.int64)
        tensors[f"{name}.positions"] = torch.tensor(positions, dtype=torch.int64)
        tensors[f"{name}.vocab_logits"] = vl.contiguous()
        tensors[f"{name}.stop_logits"] = sl.contiguous()
        tensors[f"{name}.stop_probs"] = torch.softmax(sl, dim=-1).contiguous()
        forward_cases.append({"name": name, "n": len(tokens), "tokens": tokens, "positions": positions,
                              "stop_probs": torch.softmax(sl, dim=-1).tolist(), "note": note})
        return vl, sl

    # natural order, length 9
    nat_logical = [CLS, BOS] + body(7)
    nat_pos = list(range(len(nat_logical)))
    vl_nat, sl_nat = add_forward("fwd_natural_9", nat_logical, nat_pos, "storage order == logical order")

    # the same sequence with storage shuffled (CLS stays at storage 0): logits rows must permute
    perm = [0] + (torch.randperm(len(nat_logical) - 1, generator=gen) + 1).tolist()
    vl_p, sl_p = add_forward("fwd_shuffled_9", [nat_logical[i] for i in perm], [nat_pos[i] for i in perm],
                             "fwd_natural_9 stored in a shuffled order (same tokens, same logical positions)")
    assert torch.allclose(vl_p, vl_nat[perm], atol=1e-5), (vl_p - vl_nat[perm]).abs().max()
    assert torch.allclose(sl_p, sl_nat, atol=1e-5)

    for n in (6, 13):
        logical = [CLS, BOS] + body(n - 2)
        perm = [0] + (torch.randperm(n - 1, generator=gen) + 1).tolist()
        add_forward(f"fwd_shuffled_{n}", [logical[i] for i in perm], perm,
                    "[CLS][BOS] tokens... stored shuffled; positions[i] = logical position of storage slot i")
        # sanity: the same case in natural order gives the same rows, permuted
        vl_n, sl_n = forward(model, logical, list(range(n)))
        vl_s = tensors[f"fwd_shuffled_{n}.vocab_logits"]
        assert torch.allclose(vl_s, vl_n[perm], atol=1e-5)
        assert torch.allclose(tensors[f"fwd_shuffled_{n}.stop_logits"], sl_n, atol=1e-5)

    # ------------------------------------------------------------ decode cases
    decode_cases = []

    def add_decode(name, kind, input_ids, constraint, threshold, max_steps, joint=False, note=""):
        res = run_decode(model, input_ids, constraint, threshold=threshold, max_steps=max_steps, joint=joint)
        case = {"name": name, "kind": kind, "input_tokens": input_ids,
                "input_positions": list(range(len(input_ids))), "constraint": constraint,
                "stopping_threshold": threshold, "max_steps": max_steps,
                "sampling": "joint top-1 over flattened slot x token" if joint else
                            "two-stage: slot = top-1 of logsumexp_v, token = top-1 of that row",
                "joint": joint, **res}
        if note:
            case["note"] = note
        decode_cases.append(case)
        return case

    for spec in DECODE_SPECS:
        kind = spec["kind"]
        if kind == "continuation":
            prompt = [CLS, BOS] + spec["prompt"]
            constraint = [True] * (len(prompt) - 1) + [False]
        elif kind == "unconditional":
            prompt, constraint = [CLS, BOS], [True, False]
        elif kind == "infill":
            prompt, constraint = infill_input(spec["body"], spec["infill_mask"])
        add_decode(spec["name"], kind, prompt, constraint, spec["threshold"], spec["max_steps"],
                   joint=spec.get("joint", False), note=spec.get("note", ""))
        if kind == "infill":
            decode_cases[-1]["infill_body"] = spec["body"]
            decode_cases[-1]["infill_mask"] = spec["infill_mask"]

    save_file(tensors, os.path.join(OUT, "expected.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"official_commit": OFFICIAL_COMMIT, "weight_seed": WEIGHT_SEED,
                   "forward": forward_cases, "decode": decode_cases}, f, indent=1)
        f.write("\n")
    for c in decode_cases:
        print(f"{c['name']:28s} thr={c['stopping_threshold']} max={c['max_steps']} inserted={c['num_inserted']:2d} "
              f"calls={c['model_calls']:2d} stop_head={c['stopped_by_stop_head']} "
              f"p_stop={[round(p, 3) for p in c['p_stop_per_call']]}")
        print(f"    in ={c['input_tokens']} c={[int(x) for x in c['constraint']]}")
        print(f"    out={c['output_tokens']}")
    for name in ("model.safetensors", "expected.safetensors"):
        os.chmod(os.path.join(OUT, name), 0o644)


DECODE_SPECS = [
    {"name": "cont_max_steps", "kind": "continuation", "prompt": [7, 19, 11], "threshold": 0.5, "max_steps": 8,
     "note": "p_stop stays below 0.5: runs to max_steps (8 insertions, 8 model calls)"},
    {"name": "cont_stop_025", "kind": "continuation", "prompt": [23, 5, 30, 14, 9], "threshold": 0.25,
     "max_steps": 12},
    {"name": "cont_stop_05", "kind": "continuation", "prompt": [12, 28], "threshold": 0.5, "max_steps": 12},
    {"name": "cont_stop_at_once", "kind": "continuation", "prompt": [12, 28], "threshold": 0.3, "max_steps": 12,
     "note": "edge case: p_stop >= threshold at the first call; nothing is inserted, 2 model calls"},
    {"name": "uncond_05", "kind": "unconditional", "threshold": 0.5, "max_steps": 12},
    {"name": "uncond_09", "kind": "unconditional", "threshold": 0.9, "max_steps": 12},
    {"name": "infill_two_gaps", "kind": "infill", "body": [8, 17, 25, 6, 13, 21, 10, 29],
     "infill_mask": [0, 0, 1, 1, 0, 0, 1, 0], "threshold": 0.5, "max_steps": 6},
    {"name": "infill_gap_at_start", "kind": "infill", "body": [15, 26, 9, 18, 31, 7, 22],
     "infill_mask": [1, 0, 0, 0, 1, 1, 0], "threshold": 0.5, "max_steps": 12},
    {"name": "joint_cont", "kind": "continuation", "prompt": [7, 19, 11], "threshold": 0.5, "max_steps": 8,
     "joint": True},
    {"name": "joint_uncond", "kind": "unconditional", "threshold": 0.5, "max_steps": 12, "joint": True},
]

if __name__ == "__main__":
    main()
