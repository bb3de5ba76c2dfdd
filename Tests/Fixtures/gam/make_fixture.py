#!/usr/bin/env python3
"""Writes the `gam` and `gam-block` parity fixtures from the official code.

The official code is rishiraj/gam at commit 2ebb82e47228d702d6f9f7b6cba5aebebe22db0f:
gam_model.py (ModelConfig, GAM_Model, GAMBlock), imported from a checkout of that commit,
not copied here. One config for both, CPU float32, eval mode (every nn.Dropout inactive):

  <out>/gam/config.json                 the ModelConfig arguments (official names)
  <out>/gam/weights.safetensors         the whole GAM_Model state_dict (float32, official key
                                        names); token_embedding.weight and head.weight are one
                                        Parameter in the module and are written as two equal copies
  <out>/gam/io.safetensors              input_ids [1, 48] (int64) and logits [1, 48, 256]
                                        (float32, the first element GAM_Model.forward returns)
  <out>/gam-block/config.json           the same ModelConfig arguments
  <out>/gam-block/weights.safetensors   one GAMBlock's state_dict (float32), own seeds
  <out>/gam-block/io.safetensors        x [1, 48, 64] and y = block(x) [1, 48, 64] (float32)

It also prints the checks that bear on test tolerances: float32 against the same weights run
in float64, prefix causality (logits of the first 24 tokens alone against the first 24 rows
of the 48-token run), and how far a change of token 0 reaches (receptive field 1 + N_LAYER ·
(CONV_KERNEL_SIZE - 1)).

Used: torch 2.15.0 (CPU), safetensors 0.8.0, numpy 2.4 (gam_model.py imports only torch;
the repository's requirements.txt lists training dependencies it does not need). Run with one
torch thread (--threads, default 1).

Run from the repository root (the output root defaults to Tests/Fixtures next to this file's
folder; give a scratch folder to compare against the committed files):

  git --git-dir=<mirror> archive 2ebb82e47228d702d6f9f7b6cba5aebebe22db0f | tar -x -C /tmp/gam
  python3 Tests/Fixtures/gam/make_fixture.py /tmp/gam [OUTPUT_ROOT] [--threads 1]
"""
import argparse
import copy
import dataclasses
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = dict(VOCAB_SIZE=256, BLOCK_SIZE=64, N_EMBED=64, N_LAYER=2, DROPOUT=0.1,
              NUM_MEMORY_SLOTS=32, CONV_KERNEL_SIZE=3)
T = 48
MEMORY_SCALE = 2.5  # so the softmax over the 32 memory slots is not near-uniform


def redraw(module, g):
    """LayerNorms (modules() order) off their 1/0 init; memory banks scaled up."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        for name, p in module.named_parameters():
            if name.endswith("memory_bank"):
                p.mul_(MEMORY_SCALE)


def memory_top_weights(blocks, run):
    """Per block, each token's largest softmax weight over the memory slots during run()."""
    seen = []
    hooks = [b.ln1.register_forward_hook(lambda m, i, o: seen.append(o)) for b in blocks]
    with torch.no_grad():
        run()
    for h in hooks:
        h.remove()
    return [F.softmax(h @ b.memory_bank.T, dim=-1).amax(dim=-1) for b, h in zip(blocks, seen)]


def save(out, config, module, io):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    # clone(): safetensors refuses tensors that share memory (the tied embedding and head).
    save_file({k: v.clone().contiguous() for k, v in module.state_dict().items()},
              os.path.join(out, "weights.safetensors"))
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(out, "io.safetensors"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", help="rishiraj/gam checked out at 2ebb82e4")
    parser.add_argument("out", nargs="?", default=os.path.dirname(HERE), help="output root (default: Tests/Fixtures)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, as committed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.abspath(args.checkout))
    import gam_model
    from gam_model import GAM_Model, GAMBlock, ModelConfig
    print(f"torch {torch.__version__}, {gam_model.__file__}, {torch.get_num_threads()} threads")
    cfg = ModelConfig(**CONFIG)
    assert dataclasses.asdict(cfg) == CONFIG
    diff = lambda a, b: (a.double() - b.double()).abs().max().item()

    # --- gam: the whole model ---
    torch.manual_seed(0)
    model = GAM_Model(cfg).eval()
    assert model.token_embedding.weight is model.head.weight
    redraw(model, torch.Generator().manual_seed(1))
    ids = torch.randint(0, CONFIG["VOCAB_SIZE"], (1, T), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits, loss = model(ids)
        assert loss is None
        prefix = model(ids[:, :T // 2])[0]
        changed = ids.clone()
        changed[0, 0] = (changed[0, 0] + 1) % CONFIG["VOCAB_SIZE"]
        moved = (model(changed)[0] - logits).abs().amax(dim=-1)[0]
        logits64 = copy.deepcopy(model).double()(ids)[0]
    save(os.path.join(args.out, "gam"), CONFIG, model, {"input_ids": ids.to(torch.int64), "logits": logits})
    reach = 1 + CONFIG["N_LAYER"] * (CONFIG["CONV_KERNEL_SIZE"] - 1)
    tops = memory_top_weights(model.blocks, lambda: model(ids))
    print(f"gam: logits std {logits.std().item():.3f}, min {logits.min().item():.3f}, max {logits.max().item():.3f}; "
          f"mean top memory weight per token " + ", ".join(f"block {i} {t.mean().item():.3f}" for i, t in enumerate(tops)))
    print(f"  max abs diff float32 vs float64 logits       {diff(logits, logits64):.3g}")
    print(f"  max abs diff 24-token prefix vs rows 0..23    {diff(prefix, logits[:, :T // 2]):.3g}")
    print(f"  token 0 changed: max abs change of rows 0..{reach}  "
          + ", ".join(f"{v:.2g}" for v in moved[:reach + 1].tolist())
          + f"; rows {reach}.. all {moved[reach:].max().item():.3g}")

    # --- gam-block: one block, its own seeds ---
    torch.manual_seed(10)
    block = GAMBlock(cfg).eval()
    redraw(block, torch.Generator().manual_seed(11))
    x = torch.randn(1, T, CONFIG["N_EMBED"], generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        y = block(x)
        y64 = copy.deepcopy(block).double()(x.double())
    save(os.path.join(args.out, "gam-block"), CONFIG, block, {"x": x, "y": y})
    top, = memory_top_weights([block], lambda: block(x))
    print(f"gam-block: y std {y.std().item():.3f}, y - x std {(y - x).std().item():.3f}; "
          f"top memory weight per token in [{top.min().item():.2f}, {top.max().item():.2f}]")
    print(f"  max abs diff float32 vs float64 y             {diff(y, y64):.3g}")


if __name__ == "__main__":
    main()
