#!/usr/bin/env bash
# What the section context (the title and heading path read with each chunk) does to retrieval:
# MRR@10 of vector and hybrid search per embedder and evaluation set, with the chunk's text only
# (none), after its heading path (headings), and after its title and heading path (title, the
# package's default). A Markdown table (BENCHMARKS.md "Section context"). Needs `make assets` and
# the CLI (cargo build --release --bin localrag).
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-target/release/localrag}
echo "| embedder | set | vector: none / headings / title | hybrid: none / headings / title |"
echo "|---|---|---|---|"
for model in all-MiniLM-L6-v2-Q8_0.gguf multilingual-e5-small; do
  for set in eval eval-zh eval-mixed eval-sections; do
    row=$(for ctx in none headings title; do
      "$CLI" eval --model-dir "www/models/$model" --corpus "tests/fixtures/$set/corpus.jsonl" \
        --qrels "tests/fixtures/$set/qrels.jsonl" --all-modes --context "$ctx" \
        < "tests/fixtures/$set/queries.jsonl" 2>/dev/null
    done | python3 -c "
import json, sys
m = [json.loads(l) for l in sys.stdin]
v = ' / '.join(f\"{x['mrr@10']:.3f}\" for x in m if x['mode'] == 'vector')
h = ' / '.join(f\"{x['mrr@10']:.3f}\" for x in m if x['mode'] == 'hybrid')
print(f'{v} | {h}')
")
    echo "| $model | $set | $row |"
  done
done
