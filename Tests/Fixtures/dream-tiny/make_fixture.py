#!/usr/bin/env python3
"""Build zoo's dream-tiny parity fixture with the OFFICIAL Dream model code (Fast-dLLM's copy).

    python3 Tests/Fixtures/dream-tiny/make_fixture.py [OUT]      # OUT defaults to this folder

Needs NVlabs/Fast-dLLM checked out unmodified under $DLLM_OFFICIAL (default /tmp/official)
as NVlabs+Fast-dLLM, and transformers 4.49.0 (see README.md).
"""
import os
import sys

import torch

torch.set_num_threads(1)

OFFICIAL = os.environ.get("DLLM_OFFICIAL", "/tmp/official")
FAST = os.path.join(OFFICIAL, "NVlabs+Fast-dLLM")
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else HERE
MASK, EOS = 63, 62
# Same recipe as llada-tiny: gains on N(0,1)/sqrt(in).
GAINS = {"lm_head.weight": 8.0, "q_proj.weight": 4.0, "k_proj.weight": 4.0,
         "v_proj.weight": 2.0, "o_proj.weight": 2.0}

# Fast-dLLM's dream/model is a package named `model` (dream/model/__init__.py).
sys.path.insert(0, os.path.join(FAST, "dream"))
from model.configuration_dream import DreamConfig   # noqa: E402
from model.modeling_dream import DreamModel          # noqa: E402


def main():
    from safetensors.torch import save_file

    config = DreamConfig(
        vocab_size=64, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
        max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=False,
        rope_theta=10000.0, rope_scaling=None, use_sliding_window=False, attention_dropout=0.0,
        mask_token_id=MASK, pad_token_id=EOS, eos_token_id=EOS, bos_token_id=EOS,
        torch_dtype="float32", attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    model = DreamModel(config).float().eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            z = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * z)
            elif name.endswith(".bias"):
                p.copy_(0.2 * z)
            elif name.endswith("embed_tokens.weight"):
                p.copy_(z)
            else:
                g = next((v for k, v in GAINS.items() if name.endswith(k)), 1.0)
                p.copy_(z / p.shape[1] ** 0.5 * g)
        # As in llada-tiny: the [MASK] row of the head is zero, so [MASK] is never predicted.
        model.lm_head.weight[MASK].zero_()

    os.makedirs(OUT, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    if os.path.exists(os.path.join(OUT, "generation_config.json")):
        os.remove(os.path.join(OUT, "generation_config.json"))

    input_ids = torch.randint(0, 64, (1, 20), generator=gen)
    input_ids[0, [3, 8, 9, 15]] = MASK
    with torch.no_grad():
        # Dream's generation calls self(x, attention_mask, tok_idx) with attention_mask="full"
        # and tok_idx=None for an unpadded batch of 1; None is the same (SDPA gets attn_mask=None).
        logits = model(input_ids, "full", None).logits.float()
        logits_none = model(input_ids).logits.float()
    assert torch.equal(logits, logits_none)
    # dream/model/generation_utils.py line 426 (_sample):
    #     logits = torch.cat([logits[:,:1], logits[:, :-1]], dim=1)
    shifted = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
    save_file({"input_ids": input_ids.contiguous(), "logits": logits.contiguous(),
               "shifted_logits": shifted.contiguous()}, os.path.join(OUT, "expected.safetensors"))
    p = shifted.softmax(-1).max(-1).values
    print("input_ids", input_ids[0].tolist())
    print("logits mean %.3f std %.3f max|.| %.2f  frac(top prob>0.9) %.2f" % (
        logits.mean(), logits.std(), logits.abs().max(), (p > 0.9).float().mean()))
    print(sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
