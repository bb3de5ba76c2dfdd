"""Writes Tests/Fixtures/scoring/heldout.json: each bundled causal demo model's
log-probability of every byte of the first 600 bytes of the held-out Shakespeare text
(training/data/shakespeare-heldout.txt), given the bytes before it, computed in float64
by the PyTorch models the demo weights were trained as: transformers' MambaForCausalLM
for mamba, training/archs/<arch>.py (each checked against its official fixture) for
sessa, gam and orchid. zood's Score must reproduce them (Tests/EndToEnd ScoreTests).
GAM reads at most 256 positions (learned) and Orchid 96 (l_max), so their text is scored
as zood scores it, in disjoint windows of that many bytes (a window's first byte
predicted from the last byte of the one before).

    pip install torch transformers safetensors numpy
    python3 scripts/score_fixtures.py
"""
import dataclasses
import importlib
import json
import math
import os
import sys

import torch

root = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, os.path.join(root, "training"))
BYTES = 600


# training/archs/<arch>.py: (config class, model class).
MODULE_CLASSES = {"sessa": ("SessaConfig", "SessaLM"), "gam": ("GAMConfig", "GAM"), "orchid": ("OrchidConfig", "OrchidLM")}


def module_lm(arch, folder):
    from safetensors.torch import load_file
    mod = importlib.import_module(f"archs.{arch}")
    config_type, model_type = (getattr(mod, n) for n in MODULE_CLASSES[arch])
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    known = {f.name for f in dataclasses.fields(config_type)}
    model = model_type(config_type(**{k: v for k, v in config.items() if k in known}))
    stored = load_file(os.path.join(folder, "model.safetensors"))
    missing, unexpected = model.load_state_dict(stored, strict=False)
    # Shared tensors (a tied head, Orchid's shared Sin.freq) are stored under one name;
    # every name left out must share its memory with one that was loaded.
    state = model.state_dict()
    loaded = {state[k].data_ptr() for k in stored}
    assert not unexpected and all(state[m].data_ptr() in loaded for m in missing), (missing, unexpected)
    model = model.double().eval()
    return model, lambda ids: model(ids)


def mamba_lm(folder):
    from transformers import MambaForCausalLM
    model = MambaForCausalLM.from_pretrained(folder, dtype=torch.float64).eval()
    return model, lambda ids: model(input_ids=ids, use_cache=False).logits


def logprobs(forward, ids, window):
    """Logprob of ids[1:], each given what precedes it in its window."""
    out = []
    for start in range(0, len(ids) - 1, window or len(ids)):
        fed = ids[start:min(start + (window or len(ids)), len(ids) - 1)]
        with torch.no_grad():
            logits = forward(torch.tensor([fed]))[0].double()
        targets = torch.tensor(ids[start + 1:start + 1 + len(fed)])
        out += torch.log_softmax(logits, -1).gather(1, targets[:, None])[:, 0].tolist()
    return out


def main():
    with open(os.path.join(root, "training", "data", "shakespeare-heldout.txt"), "rb") as f:
        text = f.read()[:BYTES]
    ids = list(text)
    fixture = {"source": "scripts/score_fixtures.py", "text": text.decode("utf-8"), "models": {}}
    for name, arch, window in [("mamba-shakespeare", "mamba", 0), ("sessa-shakespeare", "sessa", 0),
                               ("gam-shakespeare", "gam", 256), ("orchid-shakespeare", "orchid", 96)]:
        folder = os.path.join(root, "models", name)
        _, forward = mamba_lm(folder) if arch == "mamba" else module_lm(arch, folder)
        lps = logprobs(forward, ids, window)
        fixture["models"][name] = {"window": window, "logprobs": lps}
        print(f"{name}: {-sum(lps) / math.log(2) / len(lps):.4f} bits per byte over {len(lps)} bytes")
    out = os.path.join(root, "Tests", "Fixtures", "scoring", "heldout.json")
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
