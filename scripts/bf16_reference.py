#!/usr/bin/env python3
"""Greedy text of the bundled Sessa model (the PyTorch module it was trained as,
training/archs/sessa.py) from its float32 weights and from the same weights rounded to
bfloat16 (computing in float32, as zoo computes with BF16 weights). zoo's
WeightFormatTests expects the BF16 text printed here.

    python3 scripts/bf16_reference.py     # needs torch and safetensors (training/requirements.txt)
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file

ROOT = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, os.path.join(ROOT, "training", "archs"))
import sessa  # noqa: E402

FOLDER = os.path.join(ROOT, "models", "sessa-shakespeare")


def greedy(weights, prompt=b"ROMEO:\n", tokens=32):
    config = json.load(open(os.path.join(FOLDER, "config.json")))
    config.pop("model_type")
    model = sessa.SessaLM(sessa.SessaConfig(**config)).eval()
    model.load_state_dict(weights)
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(tokens):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return bytes(ids[len(prompt):]).decode(errors="replace")


def main():
    weights = load_file(os.path.join(FOLDER, "model.safetensors"))
    print("float32 ", repr(greedy(weights)))
    print("bfloat16", repr(greedy({k: v.to(torch.bfloat16).float() for k, v in weights.items()})))


if __name__ == "__main__":
    main()
