#!/usr/bin/env python3
"""Writes the tiny-BERT parity fixture for Tests/Parity/TransformerParityTests.

A random BertForMaskedLM (transformers) and a sentence-transformers model built on the
same encoder (Pooling with every mode, then Normalize) are run in float32 on CPU; their
outputs are the expected values zoo's `bert` builder is checked against. CI has no
torch, so the outputs are committed next to this script:

  config.json, model.safetensors   BertForMaskedLM.save_pretrained (names under "bert.", cls.predictions.*)
  modules.json, 1_Pooling/config.json   as SentenceTransformer.save wrote them
  expected.safetensors             input_ids_{i} (int64), hidden_{i} [L, D], logits_{i} [L, V],
                                   embeddings [4, 6·D] (padded batch through sentence-transformers)

Run from anywhere: python3 Tests/Fixtures/tiny-bert/make_fixture.py [OUT]
(OUT defaults to this file's folder; give a scratch folder to compare against the committed files)
(torch 2.15, transformers 5.23.0, sentence-transformers 6.2.0, safetensors 0.8.0 were used).
"""
import json
import os
import shutil
import sys
import tempfile

import torch
from safetensors.torch import save_file
from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Normalize, Pooling, Transformer
from transformers import BertConfig, BertForMaskedLM, BertTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else HERE
os.makedirs(OUT, exist_ok=True)
VOCAB = 96
torch.manual_seed(0)

config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, max_position_embeddings=40, type_vocab_size=2,
                    layer_norm_eps=1e-12, hidden_act="gelu")
model = BertForMaskedLM(config).eval()

# Re-draw every parameter so the test exercises large activations, not init-scale ones.
g = torch.Generator().manual_seed(1)
with torch.no_grad():
    for name, p in sorted(model.named_parameters()):
        if "LayerNorm.weight" in name:
            p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
        elif name.endswith("bias"):
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
        elif "embeddings" in name:
            p.copy_(torch.randn(p.shape, generator=g))
        else:
            p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)

work = tempfile.mkdtemp()
mlm_dir = os.path.join(work, "mlm")
model.save_pretrained(mlm_dir)
# A tokenizer only so sentence-transformers can load the folder; zoo never uses it.
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]
with open(os.path.join(mlm_dir, "vocab.txt"), "w") as f:
    f.write("\n".join(vocab) + "\n")
BertTokenizer(os.path.join(mlm_dir, "vocab.txt")).save_pretrained(mlm_dir)

modes = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]
encoder = Transformer(mlm_dir)
st = SentenceTransformer(modules=[encoder, Pooling(encoder.get_embedding_dimension(), pooling_mode=modes), Normalize()],
                         device="cpu").eval()
st_dir = os.path.join(work, "st")
st.save(st_dir)

lengths = [1, 5, 12, 17]
ids = [torch.randint(5, VOCAB, (n,), generator=g) for n in lengths]
for seq in ids[1:]:  # [CLS] ... [SEP] as a tokenizer would give, except the 1-token one
    seq[0], seq[-1] = 2, 3

tensors = {}
with torch.no_grad():
    for i, seq in enumerate(ids):
        out = model(input_ids=seq[None], output_hidden_states=True)
        tensors[f"input_ids_{i}"] = seq.to(torch.int64).contiguous()
        tensors[f"hidden_{i}"] = out.hidden_states[-1][0].contiguous()
        tensors[f"logits_{i}"] = out.logits[0].contiguous()
    longest = max(lengths)
    input_ids = torch.zeros(len(ids), longest, dtype=torch.int64)
    mask = torch.zeros(len(ids), longest, dtype=torch.int64)
    for i, seq in enumerate(ids):
        input_ids[i, : len(seq)] = seq
        mask[i, : len(seq)] = 1
    features = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(input_ids)}
    tensors["embeddings"] = st(features)["sentence_embedding"].contiguous()

for name in ["config.json", "model.safetensors"]:
    shutil.copy(os.path.join(mlm_dir, name), os.path.join(OUT, name))
shutil.copy(os.path.join(st_dir, "modules.json"), os.path.join(OUT, "modules.json"))
os.makedirs(os.path.join(OUT, "1_Pooling"), exist_ok=True)
shutil.copy(os.path.join(st_dir, "1_Pooling", "config.json"), os.path.join(OUT, "1_Pooling", "config.json"))
save_file(tensors, os.path.join(OUT, "expected.safetensors"))
for name in ["model.safetensors", "expected.safetensors"]:
    os.chmod(os.path.join(OUT, name), 0o644)
shutil.rmtree(work)
print("modules.json:", open(os.path.join(OUT, "modules.json")).read())
print("pooling:", open(os.path.join(OUT, "1_Pooling", "config.json")).read())
print("wrote", sorted(tensors))
