#!/usr/bin/env python3
"""Writes the tiny Llama and Qwen2 parity fixtures for Tests/Parity/TransformerParityTests.

A two-layer Hugging Face transformers `LlamaForCausalLM` (--family llama, into
Tests/Fixtures/tiny-llama) or `Qwen2ForCausalLM` (--family qwen2, into tiny-qwen2) with
random weights, saved by `save_pretrained`, and its outputs for one 18-token input. They
cover the paths of zoo's `llama` and `qwen2` builders: Llama with biases on q/k/v/o
(attention_bias), an untied lm_head, 2 query heads per KV head and a top-level
rope_theta; Qwen2 with its q/k/v biases (none on o_proj), a tied head and 3 query heads
per KV head. CI has no torch, so the outputs are committed next to this script:

  config.json, model.safetensors   save_pretrained
  expected.safetensors             input_ids [18] (int64), logits [18, V] and hidden [18, D]
                                   (last_hidden_state, after the final norm), eager attention

Run from anywhere: python3 Tests/Fixtures/tiny-llama/make_fixture.py [--family qwen2] [OUT]
(OUT defaults to the family's folder; torch 2.15, transformers 5.25.0, safetensors 0.8.0 were used).
"""
import argparse
import os

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

FIXTURES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("--family", choices=["llama", "qwen2"], default="llama")
parser.add_argument("out", nargs="?")
args = parser.parse_args()
OUT = args.out or os.path.join(FIXTURES, f"tiny-{args.family}")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
shape = dict(vocab_size=72, hidden_size=48, intermediate_size=80, num_hidden_layers=2, num_key_value_heads=2,
             max_position_embeddings=64, rms_norm_eps=1e-5)
if args.family == "llama":
    config = LlamaConfig(**shape, num_attention_heads=4, tie_word_embeddings=False, attention_bias=True,
                         rope_theta=10000.0)
    model_class = LlamaForCausalLM
else:
    config = Qwen2Config(**shape, num_attention_heads=6, tie_word_embeddings=True, rope_theta=1000000.0)
    model_class = Qwen2ForCausalLM
config._attn_implementation = "eager"
model = model_class(config).eval()

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
