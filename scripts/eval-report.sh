#!/usr/bin/env bash
# Retrieval quality of each embedder on each evaluation set, in each mode: a Markdown table of
# mrr@10 / recall@10 / nDCG@10 (README "Retrieval quality"). Needs `make assets` and the CLI
# (cargo build --release --bin localrag).
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-target/release/localrag}
echo "| embedder | set | mode | MRR@10 | recall@10 | nDCG@10 |"
echo "|---|---|---|---:|---:|---:|"
for model in all-MiniLM-L6-v2 all-MiniLM-L6-v2-Q8_0.gguf multilingual-e5-small; do
  for set in eval eval-zh eval-mixed eval-sections; do
    "$CLI" eval --model-dir "www/models/$model" --corpus "tests/fixtures/$set/corpus.jsonl" \
      --qrels "tests/fixtures/$set/qrels.jsonl" --all-modes < "tests/fixtures/$set/queries.jsonl" 2>/dev/null |
      python3 -c "
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    print(f\"| $model | $set | {m['mode']} | {m['mrr@10']:.3f} | {m['recall@10']:.3f} | {m['ndcg@10']:.3f} |\")
"
  done
done
