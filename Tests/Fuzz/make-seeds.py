#!/usr/bin/env python3
"""Writes the JSON and safetensors seed inputs for the fuzz targets into DIR/<target>/,
from the repository's real files (models/, Tests/Fixtures/) plus a few small hand-made ones.
The protobuf seeds (manifest, generate-request, embed-request) come from the fuzzer
itself: ZOO_FUZZ_WRITE_SEEDS=DIR zoo-fuzz. scripts/fuzz does both when a corpus is empty;
the committed corpora under Tests/Fuzz/corpus/ are these seeds after fuzzing and -merge=1."""
import glob, json, os, struct, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = sys.argv[1]


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def rel(path):
    return os.path.relpath(path, root).replace("/", "_")


# safetensors: small real files whole; larger ones as their header plus 64 data bytes.
def safetensors(header, data=b""):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data

for path in sorted(glob.glob(os.path.join(root, "Tests/Fixtures/*/*.safetensors"))):
    raw = open(path, "rb").read()
    if len(raw) <= 12000:
        put("safetensors", rel(path), raw)
    elif "io.safetensors" in path or "weights.safetensors" in path:
        (n,) = struct.unpack("<Q", raw[:8])
        put("safetensors", "trunc_" + rel(path), raw[: 8 + n + 64])
put("safetensors", "dtypes", safetensors({
    "__metadata__": {"format": "pt"},
    "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
    "b": {"dtype": "F16", "shape": [2], "data_offsets": [16, 20]},
    "c": {"dtype": "BF16", "shape": [2], "data_offsets": [20, 24]},
    "d": {"dtype": "F64", "shape": [1], "data_offsets": [24, 32]},
    "e": {"dtype": "I64", "shape": [1], "data_offsets": [32, 40]},
    "f": {"dtype": "I32", "shape": [1], "data_offsets": [40, 44]},
    "g": {"dtype": "I16", "shape": [1], "data_offsets": [44, 46]},
    "h": {"dtype": "I8", "shape": [1], "data_offsets": [46, 47]},
    "i": {"dtype": "U8", "shape": [1], "data_offsets": [47, 48]},
    "j": {"dtype": "BOOL", "shape": [], "data_offsets": [48, 49]},
    "k": {"dtype": "F32", "shape": [0, 3], "data_offsets": [49, 49]},
}, bytes(range(49))))
put("safetensors", "odd-offset", safetensors({"w": {"dtype": "F32", "shape": [3], "data_offsets": [1, 13]}}, bytes(13)))

# config.json and zoo.json: every one in the repository.
for path in sorted(glob.glob(os.path.join(root, "models/*/config.json")) + glob.glob(os.path.join(root, "Tests/Fixtures/**/config.json"), recursive=True)):
    put("config", rel(path), open(path, "rb").read())
for path in sorted(glob.glob(os.path.join(root, "models/*/zoo.json"))):
    put("zoojson", rel(path), open(path, "rb").read())
put("zoojson", "bytes", '{"tokenizer": "bytes", "eos_token_ids": [0, 10], "default_decoder": "ar"}')

# tokenizer.json: the BPE fixture cut to its first 400 tokens and the merges among them,
# and a small WordPiece (BERT) tokenizer in both post-processor forms.
bpe = json.load(open(os.path.join(root, "Tests/Fixtures/bpe-tokenizer/tokenizer.json")))
vocab = {t: i for t, i in bpe["model"]["vocab"].items() if i < 400}
def merge_ok(m):
    a, b = m if isinstance(m, list) else m.split(" ", 1)
    return a in vocab and b in vocab and a + b in vocab
bpe["model"]["vocab"] = vocab
bpe["model"]["merges"] = [m for m in bpe["model"]["merges"] if merge_ok(m)]
put("tokenizer", "bpe-small", json.dumps(bpe, ensure_ascii=False))
words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "hello", "world", "don", "'", "t", ",", ".", "!",
         "caf", "##e", "##s", "na", "##ive", "東", "京", "1", "##2", "##34", "5", "un", "##want", "##ed", "runn", "##ing"]
wp = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": i, "content": w, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True} for i, w in enumerate(words[:5])],
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                   "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                  {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                       "pair": [], "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                                      "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": {w: i for i, w in enumerate(words)}},
}
put("tokenizer", "wordpiece-template", json.dumps(wp, ensure_ascii=False))
wp["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}
wp["normalizer"]["strip_accents"] = True
put("tokenizer", "wordpiece-bert", json.dumps(wp, ensure_ascii=False))
