#!/usr/bin/env python3
"""Build src/search/semantic/wordllama-128.bin (and its test fixture) from the WordLlama wheel.

Where the data comes from
    WordLlama 0.4.0.post1 (https://github.com/dleemiller/WordLlama, PyPI `wordllama`), MIT
    licence, (c) D. Lee Miller. The wheel carries
      wordllama/weights/l2_supercat_256.safetensors          32000 x 256 f16, "embedding.weight"
      wordllama/tokenizers/l2_supercat_tokenizer_config.json  Llama 2 BPE (HF tokenizers JSON)
    The embeddings are trained from Llama 2's token embeddings, so they also fall under the
    Llama 2 Community License; see src/search/semantic/NOTICE.

What it writes (all integers little endian)
    header, 24 bytes:
      magic   b"WLMA"
      version u32 = 1
      tokens  u32  vocabulary size (32000)
      merges  u32  number of merges (61249)
      dim     u32  embedding dimensions kept (128: the model is Matryoshka-trained, so the
                   first 128 of 256 dimensions are a valid embedding on their own)
      flags   u32 = 0, reserved
    vocabulary: per token id, u8 byte length + UTF-8 bytes
    merges, by rank (lowest first): u16 left id, u16 right id, u16 merged id
    embeddings, per token id: f32 scale + dim x i8; row = scale * i8 values

Usage
    src/search/semantic/wordllama_model.py [--wheel PATH] [--fixture]
PATH is the .whl or an unpacked wheel directory; without it the wheel is fetched with
`pip download wordllama==0.4.0.post1 --no-deps`. numpy, safetensors and tokenizers are taken from
the running Python when importable, else a venv is made under /tmp and the script re-runs there.
--fixture also writes src/search/semantic/fixture.tsv (the Rust tests' reference: HF tokenizer ids
and the float, unquantised embedding of ~40 varied strings).

The output is deterministic: same wheel, same bytes.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_SPEC = "wordllama==0.4.0.post1"
PYTHON_DEPS = ["numpy", "safetensors", "tokenizers"]
VENV = Path("/tmp/wordllama-model-venv")
WEIGHTS = "wordllama/weights/l2_supercat_256.safetensors"
TOKENIZER = "wordllama/tokenizers/l2_supercat_tokenizer_config.json"
MAGIC = b"WLMA"
VERSION = 1
DIM = 128
OUT_DIR = Path(__file__).resolve().parent

FIXTURE_TEXTS = [
    "",
    " ",
    "  ",
    "hello",
    "Hello world",
    "How do I install a package?",
    "Installing software packages with apt",
    "Recipes for chocolate cake",
    "how do i log out of the shell",
    "How to leave the command prompt",
    "Log rotation of the system journal",
    "  leading spaces",
    "trailing spaces   ",
    "double  spaces  between  words",
    "Où est la bibliothèque ? Je l’ai cherchée partout.",
    "« Bonjour », dit-il, « ça va très bien. »",
    "L'été dernier, nous sommes allés à Montréal.",
    "Qu’est-ce que c’est ?",
    "apt-get install -y foo",
    "sudo systemctl restart nginx.service",
    "fn main() { println!(\"{}\", x.unwrap_or(0)); }",
    "/usr/local/bin/animam --config /etc/animam/config.toml",
    "C:\\Users\\Admin\\Documents\\report.docx",
    "https://example.com/path?query=1&b=2#frag",
    "3.14159 2026-12-06 21:35 UTC 1,234,567",
    "Version 0.4.0.post1 costs $12.99 (≈ 11 €)",
    "I ❤️ Rust 🦀 and coffee ☕",
    "日本語のテキストです。",
    "中文测试：你好，世界！",
    "한국어 문장입니다",
    "Привет, как дела?",
    "Ελληνικά γράμματα",
    "tab\tseparated\tvalues",
    "line one\nline two\r\nline three",
    "UPPERCASE lowercase MiXeD CaSe",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "e-mail: someone@example.org, phone +33 1 23 45 67 89",
    "    def indented(self):\n        return None",
    "The quick brown fox jumps over the lazy dog.",
    "naïve café résumé coöperate façade",
    "\u00a0non-breaking\u00a0space and zero\u200bwidth",
]


def ensure_python_deps():
    try:
        for name in PYTHON_DEPS:
            __import__(name)
        return
    except ImportError:
        pass
    python = VENV / "bin" / "python"
    if Path(sys.executable).resolve() == python.resolve():
        sys.exit(f"{python} lacks one of {PYTHON_DEPS}")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PYTHON_DEPS], check=True)
    os.execv(str(python), [str(python), *sys.argv])


def wheel_dir(wheel, scratch):
    """An unpacked wheel directory, downloading and unzipping as needed."""
    if wheel is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", scratch, WHEEL_SPEC],
            check=True,
        )
        wheel = next(Path(scratch).glob("wordllama-*.whl"))
    wheel = Path(wheel)
    if wheel.is_dir():
        # Accept both the wheel root and the `wordllama` package directory itself.
        return wheel.parent if (wheel / "weights").is_dir() else wheel
    target = Path(scratch) / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target, members=[WEIGHTS, TOKENIZER])
    return target


def load(root):
    import numpy as np
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    tensors = load_file(str(root / WEIGHTS))
    table = tensors["embedding.weight"].astype(np.float32)[:, :DIM]
    config = json.loads((root / TOKENIZER).read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(root / TOKENIZER))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return table, config, tokenizer


def vocabulary(config):
    by_id = {token_id: token for token, token_id in config["model"]["vocab"].items()}
    if sorted(by_id) != list(range(len(by_id))):
        sys.exit("vocabulary ids are not 0..n")
    return [by_id[i] for i in range(len(by_id))]


def merges(config):
    vocab = config["model"]["vocab"]
    ranked = []
    for merge in config["model"]["merges"]:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        ranked.append((vocab[left], vocab[right], vocab[left + right]))
    return ranked


def quantise(table):
    import numpy as np

    peak = np.abs(table).max(axis=1)
    scales = np.where(peak > 0, peak / np.float32(127), np.float32(1)).astype(np.float32)
    values = np.clip(np.rint(table / scales[:, None]), -127, 127).astype(np.int8)
    return scales, values


def model_bytes(table, config):
    tokens = vocabulary(config)
    ranked = merges(config)
    if len(tokens) != table.shape[0] or len(tokens) > 0xFFFF:
        sys.exit("vocabulary and table disagree, or ids do not fit u16")
    out = bytearray(MAGIC)
    out += struct.pack("<5I", VERSION, len(tokens), len(ranked), DIM, 0)
    for token in tokens:
        encoded = token.encode("utf-8")
        out += struct.pack("<B", len(encoded)) + encoded
    for left, right, merged in ranked:
        out += struct.pack("<3H", left, right, merged)
    scales, values = quantise(table)
    for scale, row in zip(scales, values):
        out += struct.pack("<f", float(scale)) + row.tobytes()
    return bytes(out)


def fixture_lines(table, tokenizer):
    import numpy as np

    for text in FIXTURE_TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        if ids:
            vector = table[ids].mean(axis=0)
            vector /= np.linalg.norm(vector)
            floats = " ".join(f"{x:.4f}" for x in vector)
        else:
            floats = ""
        # JSON keeps tabs and newlines of the text off the TSV's own separators.
        yield f"{json.dumps(text, ensure_ascii=False)}\t{' '.join(map(str, ids))}\t{floats}\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", help="wordllama .whl file or unpacked wheel directory")
    parser.add_argument("--fixture", action="store_true", help="also write fixture.tsv")
    args = parser.parse_args()
    ensure_python_deps()
    with tempfile.TemporaryDirectory() as scratch:
        table, config, tokenizer = load(wheel_dir(args.wheel, scratch))
    model = OUT_DIR / "wordllama-128.bin"
    model.write_bytes(model_bytes(table, config))
    print(f"wrote {model} ({model.stat().st_size} bytes)")
    if args.fixture:
        fixture = OUT_DIR / "fixture.tsv"
        fixture.write_text("".join(fixture_lines(table, tokenizer)), encoding="utf-8")
        print(f"wrote {fixture} ({fixture.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
