#!/usr/bin/env python3
"""Writes the tiny Llama parity fixture for Tests/Parity/TransformerParityTests.

A two-layer Hugging Face transformers `LlamaForCausalLM` with random weights, saved by
`save_pretrained`, and its outputs for one 18-token input. It covers the paths of zoo's
`llama` builder: biases on q/k/v/o (attention_bias), an untied lm_head, 2 query heads per
KV head, head_dim = hidden_size / heads, and top-level rope_theta. CI has no torch, so
the outputs are committed next to this script:

  config.json, model.safetensors   LlamaForCausalLM.save_pretrained
  expected.safetensors             input_ids [18] (int64), logits [18, V] and hidden [18, D]
                                   (last_hidden_state, after the final norm), eager attention

Run from anywhere: python3 Tests/Fixtures/tiny-llama/make_fixture.py [OUT]
(torch 2.15, transformers 5.25.0, safetensors were used).
"""
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
config = LlamaConfig(vocab_size=72, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                     rms_norm_eps=1e-5, tie_word_embeddings=False, attention_bias=True, rope_theta=10000.0)
config._attn_implementation = "eager"
model = LlamaForCausalLM(config).eval()

# Re-draw every parameter so activations are not init-scale.
g = torch.Generator().manual_seed(1)
with torch.no_grad():
    for name, p in sorted(model.named_parameters()):
        if name.endswith("norm.weight"):
            p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
        elif name.endswith("bias"):
            p.copy_(0.2 * torch.randn(p.shape, generator=g))
        elif "embed_tokens" in name:
            p.copy_(torch.randn(p.shape, generator=g))
        else:
            p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)

model.save_pretrained(OUT)
if os.path.exists(os.path.join(OUT, "generation_config.json")):
    os.remove(os.path.join(OUT, "generation_config.json"))  # not read by zoo
ids = torch.randint(0, config.vocab_size, (18,), generator=g)
with torch.no_grad():
    out = model(input_ids=ids[None], use_cache=False)
    hidden = model.model(input_ids=ids[None], use_cache=False).last_hidden_state
save_file({"input_ids": ids.to(torch.int64).contiguous(), "logits": out.logits[0].contiguous(),
           "hidden": hidden[0].contiguous()}, os.path.join(OUT, "expected.safetensors"))
for name in ["model.safetensors", "expected.safetensors"]:
    os.chmod(os.path.join(OUT, name), 0o644)
print(sorted(os.listdir(OUT)))
