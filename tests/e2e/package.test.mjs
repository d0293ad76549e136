// pkg/ is a valid npm package: npm pack takes the right files, package.json has what bundlers
// and TypeScript need, and the .d.ts describes the API precisely.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ROOT } from './browser.mjs';

const pkgDir = `${ROOT}pkg`;

test('package.json is complete', () => {
  const pkg = JSON.parse(readFileSync(`${pkgDir}/package.json`, 'utf8'));
  assert.equal(pkg.name, 'localrag');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.types, './localrag.d.ts');
  assert.deepEqual(pkg.exports['.'], { types: './localrag.d.ts', default: './localrag.js' });
  for (const f of ['localrag.js', 'localrag.d.ts', 'localrag_bg.wasm']) assert.ok(pkg.files.includes(f), f);
});

test('npm pack takes the wasm, the JS and the types', () => {
  const [report] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: pkgDir, encoding: 'utf8' }));
  const files = report.files.map((f) => f.path).sort();
  for (const f of ['localrag.js', 'localrag.d.ts', 'localrag_bg.wasm', 'package.json', 'README.md']) {
    assert.ok(files.includes(f), `${f} missing from ${files}`);
  }
  assert.equal(report.name, 'localrag');
});

test('the .d.ts describes the embedder API', () => {
  const dts = readFileSync(`${pkgDir}/localrag.d.ts`, 'utf8');
  assert.match(dts, /static load\(options: EmbedderLoadOptions\): Promise<Embedder>/);
  assert.match(dts, /embed\(texts: string\[\]\): Promise<Float32Array\[\]>/);
  assert.match(dts, /readonly backend: 'webgpu' \| 'cpu'/);
  assert.match(dts, /readonly dim: number/);
  assert.match(dts, /backend\?: BackendChoice/);
  assert.match(dts, /code: 'E_MODEL_FORMAT'/);
});
