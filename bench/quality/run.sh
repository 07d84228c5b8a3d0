#!/usr/bin/env bash
# Answer-quality evaluation (see docs/quality.md). One command:
#   bash bench/quality/run.sh [main|heldout|fresh|fresh2|fresh3|typos|all]
# Needs: the Debian packages debian-reference-en, debian-reference-fr, debian-faq, debian-faq-fr
# (installed with apt-get when missing and running as root), python3 with venv, cargo.
# Writes bench/quality/results.md (the tables) and bench/quality/out/*-misses.txt (each miss).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
which_set="${1:-all}"

packages=(debian-reference-en debian-reference-fr debian-faq debian-faq-fr)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install first: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if [[ ! -x "$here/.venv/bin/python" ]] || ! "$here/.venv/bin/python" -c 'import bm25s, Stemmer' 2>/dev/null; then
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/pip" install -q bm25s PyStemmer
fi

target="${CARGO_TARGET_DIR:-$root/target}"
(cd "$root" && cargo build --release --quiet)
"$here/.venv/bin/python" "$here/evaluate.py" --binary "$target/release/animam" \
    --set "$which_set" --out "$here/results.md"
