#!/usr/bin/env python3
"""Writes the two gated-attention Qwen3 parity fixtures from the official code.

The official code is qiuzh20/gated_attention at commit
49645df63aafe9e680bc44a9c0ca280d4aefa8e9: its modeling_qwen3.py (Qwen3ForCausalLM, eager
Qwen3Attention with the attention-output gate) and configuration_qwen3.py (Qwen3Config),
imported from a checkout of that commit, not copied here. One tiny model per gate kind,
same seeds and input ids, CPU float32, eager attention:

  <out>/gated-attention-headwise/      headwise_attn_output_gate=True    (one gate per head)
  <out>/gated-attention-elementwise/   elementwise_attn_output_gate=True (one gate per head dim)

each with

  config.json           the constructor arguments (official names), _attn_implementation, model_type
  weights.safetensors   the full state_dict (float32, official key names, untied lm_head)
  io.safetensors        input_ids [1, 20] (int64); logits [1, 20, 256] and
                        layer0_attention_probs [1, 4, 20, 20] from one full forward
                        (use_cache=False, output_attentions=True); prefill10_decode10_logits
                        [1, 20, 256]: a prefill of 10 tokens then 10 one-token steps on the
                        official DynamicCache

It also prints, per variant, the max abs differences that bear on test tolerances (full vs
prefill10+decode10 logits, and float32 vs the same model run in float64).

The official file needs transformers 4.51.3 (transformers 5.x cannot build the model: its
Qwen3Config has no pad_token_id, which Qwen3Model.__init__ reads). Used: torch 2.15.0 (CPU),
transformers 4.51.3, tokenizers 0.21.1, huggingface_hub 0.30.2, safetensors 0.8.0, numpy 2.4,
installed apart from a newer transformers with

  pip install --target /tmp/tf451 transformers==4.51.3 tokenizers==0.21.1 \\
      huggingface_hub==0.30.2 --no-deps
  pip install --target /tmp/tf451 requests      # the one dependency the venv lacked

The committed files were made with 2 torch intra-op threads, this script's default. The
thread count changes how the CPU kernels split their sums, so with another --threads some
outputs differ in the last float32 bits (1 thread: prefill10_decode10_logits by up to 1.7e-06).

Run from the repository root (the output root defaults to Tests/Fixtures next to this file's
folder; give a scratch folder to compare against the committed files):

  mkdir /tmp/gated_attention && git --git-dir=<clone>/.git archive \
      49645df63aafe9e680bc44a9c0ca280d4aefa8e9 | tar -x -C /tmp/gated_attention
  PYTHONPATH=/tmp/tf451 python3 Tests/Fixtures/gated-attention-headwise/make_fixture.py \\
      /tmp/gated_attention [OUTPUT_ROOT] [--threads 2]
"""
import argparse
import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, head_dim=16,
              qkv_bias=False,  # not a named Qwen3Config argument, but Qwen3Attention reads it
              use_qk_norm=True, max_position_embeddings=128, rope_theta=10000.0, rms_norm_eps=1e-6,
              tie_word_embeddings=False, attention_dropout=0.0)
VARIANTS = {
    "gated-attention-headwise": dict(headwise_attn_output_gate=True, elementwise_attn_output_gate=False),
    "gated-attention-elementwise": dict(headwise_attn_output_gate=False, elementwise_attn_output_gate=True),
}


def import_official(checkout):
    """The checkout as a package, so modeling_qwen3's `from .configuration_qwen3 import` works."""
    spec = importlib.machinery.ModuleSpec("gated_attention_official", None, is_package=True)
    spec.submodule_search_locations = [checkout]
    sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # an empty namespace
    return importlib.import_module(spec.name + ".modeling_qwen3")


def build(official, gates):
    args = dict(CONFIG, **gates)
    config = official.Qwen3Config(**args)
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = official.Qwen3ForCausalLM(config).eval()
    assert all(type(layer.self_attn) is official.Qwen3Attention for layer in model.model.layers)

    # Re-draw every parameter so the weights do not depend on the library's init code and
    # activations are not init-scale.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                assert p.dim() == 2, name  # no biases (qkv_bias=False)
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    return dict(args, _attn_implementation="eager", model_type="qwen3"), model


def run(official, model, ids):
    with torch.no_grad():
        full = model(input_ids=ids, use_cache=False, output_attentions=True)
        cache = official.DynamicCache()
        steps = [model(input_ids=ids[:, :10], past_key_values=cache, use_cache=True).logits]
        for i in range(10, ids.shape[1]):
            steps.append(model(input_ids=ids[:, i:i + 1], past_key_values=cache, use_cache=True).logits)
    return full, torch.cat(steps, dim=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", help="qiuzh20/gated_attention checked out at 49645df6")
    parser.add_argument("out", nargs="?", default=os.path.dirname(HERE), help="output root (default: Tests/Fixtures)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2, as committed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    official = import_official(os.path.abspath(args.checkout))
    import transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads")

    ids = torch.randint(0, CONFIG["vocab_size"], (1, 20), generator=torch.Generator().manual_seed(2))
    for folder, gates in VARIANTS.items():
        config, model = build(official, gates)
        full, stepped = run(official, model, ids)
        out = os.path.join(args.out, folder)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(out, "weights.safetensors"))
        save_file({"input_ids": ids.to(torch.int64).contiguous(), "logits": full.logits.contiguous(),
                   "layer0_attention_probs": full.attentions[0].contiguous(),
                   "prefill10_decode10_logits": stepped.contiguous()},
                  os.path.join(out, "io.safetensors"))
        for name in ["weights.safetensors", "io.safetensors"]:
            os.chmod(os.path.join(out, name), 0o644)  # save_file creates them 0600

        # The same model and ids in float64, for the size of float32 rounding.
        with torch.no_grad():
            logits64 = model.double()(input_ids=ids, use_cache=False).logits
        print(f"{folder}: logits std {full.logits.std().item():.3f}; max abs diff: "
              f"full vs prefill10+decode10 {(full.logits - stepped).abs().max().item():.3g}, "
              f"float32 vs float64 {(full.logits.double() - logits64).abs().max().item():.3g}")


if __name__ == "__main__":
    main()
