#!/usr/bin/env bash
# consumer-test.sh: localrag as an application gets it. Packs pkg/ with `npm pack`, installs the
# tarball into the Vite app in tests/consumer (a copy in node_modules, the lock file untouched),
# builds it with Vite, links the model files into dist/models and runs
# tests/consumer/consumer.test.mjs in headless Chromium (WebGPU on SwiftShader).
# Needs: pkg/ (make pkg), www/models (make assets), tests/e2e/node_modules (make npm-tools).
# The main-thread app embeds on WebGPU, the Worker app on the CPU; CONSUMER_BACKEND=cpu|webgpu puts both on one.
# The suite runs twice: without the COOP/COEP headers, and with them (CONSUMER_ISOLATED=1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
app=$root/tests/consumer
cd "$root"

for f in pkg/localrag.js pkg/localrag_bg.wasm pkg/relaxed/localrag_bg.wasm pkg/threads/localrag_bg.wasm pkg/threads/relaxed/localrag_bg.wasm www/models/all-MiniLM-L6-v2/model.safetensors \
         www/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf tests/e2e/node_modules/playwright-core/package.json; do
  [ -e "$f" ] || { echo "consumer-test: $f is missing (make pkg / make assets / make npm-tools)" >&2; exit 1; }
done

# The package's public JS (src/web/js) into pkg/, as `make pkg` does; the wasm is not rebuilt.
node scripts/package-json.mjs

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tgz=$(cd pkg && npm pack --pack-destination "$tmp" --json | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].filename))')
echo "consumer-test: packed $tgz"

cd "$app"
lock=$(sha256sum package-lock.json)
npm ci --no-audit --no-fund --loglevel=error
npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$tmp/$tgz"
[ "$(sha256sum package-lock.json)" = "$lock" ] || { echo "consumer-test: package-lock.json changed" >&2; exit 1; }
[ -d node_modules/localrag ] && [ ! -L node_modules/localrag ] \
  || { echo "consumer-test: node_modules/localrag is not a copy" >&2; exit 1; }
# The installed files are exactly the tarball's.
mkdir "$tmp/unpacked" && tar -xzf "$tmp/$tgz" -C "$tmp/unpacked"
diff -r "$tmp/unpacked/package" node_modules/localrag

rm -rf dist
npx --no-install vite build --logLevel warn
ln -s "$root/www/models" dist/models

cd "$root"
# As served without COOP/COEP (the single-threaded modules), then with them (the threaded
# module, on the CPU where it runs), both entry points each time.
node --test --test-concurrency=1 tests/consumer/consumer.test.mjs
CONSUMER_ISOLATED=1 CONSUMER_BACKEND=cpu node --test --test-concurrency=1 tests/consumer/consumer.test.mjs
