#!/usr/bin/env python3
"""Builds crates/data/assets/mnist-small/: the embedded digits set behind `Mnist::embedded`.

The subset is fixed: the FIRST 10,000 images of the MNIST training set and the FIRST 2,000
images of the MNIST test set, in their original order, written as gzip'd IDX files with the
standard names (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz). The gzip streams are written with
mtime 0, no file name and level 9, so a rerun gives byte-identical files.

Usage (from the repository root; standard library only):

    python3 crates/data/tools/make_mnist_small.py [SRC_DIR] [OUT_DIR]

SRC_DIR defaults to ../shared/data/mnist (the real MNIST, gzip'd IDX), OUT_DIR to
crates/data/assets/mnist-small. The script checks the SHA-256 of each source file against the
values below (the ones recorded in ../shared/data/SHA256SUMS) and writes SHA256SUMS and
SOURCE.md into OUT_DIR.
"""

import gzip
import hashlib
import io
import os
import struct
import sys

TRAIN_COUNT = 10_000
TEST_COUNT = 2_000

SOURCE_SHA256 = {
    "train-images-idx3-ubyte.gz": "db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19",
    "train-labels-idx1-ubyte.gz": "51fc562b6747b666fbf6e84ce29d43c3cb5f9c388c664d43b33f02095313405a",
    "t10k-images-idx3-ubyte.gz": "cfeddb84311ecf044fc6a5b0f6ee8a24d265d4e83e388400186eb114082f4209",
    "t10k-labels-idx1-ubyte.gz": "e41c74e484045d39b462a7790a4af51301bd9b0b24f0154798d713ec68c45920",
}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got = struct.unpack(">I", data[:4])[0]
    if got != magic:
        sys.exit(f"{path}: bad magic number {got:#x}, expected {magic:#x}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return dims, data[4 + 4 * ndim :]


def write_idx_gz(path, magic, dims, payload):
    raw = io.BytesIO()
    raw.write(struct.pack(">I", magic))
    raw.write(struct.pack(">" + "I" * len(dims), *dims))
    raw.write(payload)
    with open(path, "wb") as out:
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
            gz.write(raw.getvalue())


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "data", "mnist")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "crates", "data", "assets", "mnist-small")
    os.makedirs(out, exist_ok=True)
    for name, want in SOURCE_SHA256.items():
        got = sha256(os.path.join(src, name))
        if got != want:
            sys.exit(f"{os.path.join(src, name)}: SHA-256 {got}, expected {want}")

    histograms = {}
    for prefix, count in (("train", TRAIN_COUNT), ("t10k", TEST_COUNT)):
        (n, rows, cols), pixels = read_idx(os.path.join(src, f"{prefix}-images-idx3-ubyte.gz"), 0x803)
        (m,), labels = read_idx(os.path.join(src, f"{prefix}-labels-idx1-ubyte.gz"), 0x801)
        assert n == m and n >= count
        write_idx_gz(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), 0x803, (count, rows, cols),
                     pixels[: count * rows * cols])
        write_idx_gz(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), 0x801, (count,), labels[:count])
        histograms[prefix] = [labels[:count].count(bytes([d])) for d in range(10)]

    names = sorted(f for f in os.listdir(out) if f.endswith(".gz"))
    with open(os.path.join(out, "SHA256SUMS"), "w") as f:
        for name in names:
            f.write(f"{sha256(os.path.join(out, name))}  {name}\n")
    with open(os.path.join(out, "SOURCE.md"), "w") as f:
        f.write("# mnist-small: the embedded digits set of `Mnist::embedded`\n\n")
        f.write(f"The first {TRAIN_COUNT:,} MNIST training images and the first {TEST_COUNT:,} MNIST test\n")
        f.write("images, in their original order, written by `crates/data/tools/make_mnist_small.py`\n")
        f.write("(gzip level 9, mtime 0: a rerun gives the same bytes).\n\n")
        f.write("Label counts (digits 0..9):\n\n")
        f.write(f"- train: {histograms['train']}\n- test: {histograms['t10k']}\n\n")
        f.write("Sources (`../shared/data/mnist`, SHA-256):\n\n")
        for name, digest in SOURCE_SHA256.items():
            f.write(f"- `{name}`: `{digest}`\n")
        f.write("\nMNIST: Yann LeCun, Corinna Cortes, Christopher J.C. Burges.\n")
    print("wrote", ", ".join(names), "to", out)
    print("label counts:", histograms)


if __name__ == "__main__":
    main()
