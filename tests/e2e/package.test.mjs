// pkg/ is a valid npm package: npm pack takes the right files, package.json has what bundlers
// and TypeScript need, and the .d.ts describes the API precisely.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ROOT } from './browser.mjs';

const pkgDir = `${ROOT}pkg`;
const pkg = JSON.parse(readFileSync(`${pkgDir}/package.json`, 'utf8'));

test('package.json is complete', () => {
  assert.equal(pkg.name, 'localrag');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.license, 'MIT OR Apache-2.0');
  assert.equal(pkg.types, './index.d.ts');
  assert.equal(pkg.sideEffects, false);
  assert.deepEqual(pkg.exports['.'], { types: './index.d.ts', default: './index.js' });
  assert.deepEqual(pkg.exports['./worker'], { types: './worker.d.ts', default: './worker.js' });
  for (const f of ['index.js', 'index.d.ts', 'worker.js', 'worker.d.ts', 'worker-entry.js', 'shared.js', 'models.js', 'contract.js', 'wasm.js', 'variants.js', 'localrag.js', 'localrag.d.ts', 'localrag_bg.wasm', 'relaxed/localrag.js', 'relaxed/localrag_bg.wasm', 'threads.js', 'pool-worker.js',
    'threads/localrag.js', 'threads/localrag_bg.wasm', 'threads/relaxed/localrag.js', 'threads/relaxed/localrag_bg.wasm',
    'loaders/index.js', 'loaders/index.d.ts', 'loaders/pdf.js', 'loaders/docx.js', 'loaders/html.js', 'loaders/text.js', 'loaders/document.js']) {
    assert.ok(pkg.files.includes(f), f);
  }
  // localrag/loaders: its libraries are optional peers, never dependencies.
  assert.deepEqual(pkg.exports['./loaders'], { types: './loaders/index.d.ts', default: './loaders/index.js' });
  assert.deepEqual(Object.keys(pkg.peerDependencies).sort(), ['mammoth', 'marked', 'parse5', 'pdfjs-dist']);
  for (const k of Object.keys(pkg.peerDependencies)) assert.equal(pkg.peerDependenciesMeta[k].optional, true, k);
  assert.equal(pkg.dependencies, undefined);
  // The entry points never import the loaders (a page that adds text pays nothing for them).
  for (const entry of ['index.js', 'worker.js', 'worker-entry.js']) {
    assert.ok(!readFileSync(`${pkgDir}/${entry}`, 'utf8').includes('loaders'), `${entry} imports the loaders`);
  }
});

test('npm pack takes the wasm, the JS, the types and the licences', () => {
  const [report] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: pkgDir, encoding: 'utf8' }));
  const files = report.files.map((f) => f.path).sort();
  for (const f of [...pkg.files, 'package.json']) assert.ok(files.includes(f), `${f} missing from ${files}`);
  assert.equal(report.name, 'localrag');
});

test('every module the entry points import is in the package', () => {
  for (const entry of ['index.js', 'worker.js', 'worker-entry.js', 'shared.js', 'models.js', 'wasm.js',
    'loaders/index.js', 'loaders/pdf.js', 'loaders/docx.js', 'loaders/html.js', 'loaders/text.js', 'loaders/document.js']) {
    const dir = entry.includes('/') ? entry.slice(0, entry.lastIndexOf('/') + 1) : '';
    const src = readFileSync(`${pkgDir}/${entry}`, 'utf8');
    for (const [, spec] of src.matchAll(/(?:from|new URL\(|import\()\s*'(\.\.?\/[^']+)'/g)) {
      const path = new URL(spec, `file:///pkg/${dir}`).pathname.slice('/pkg/'.length);
      assert.ok(pkg.files.includes(path), `${entry} needs ${spec}, which is not in files`);
    }
  }
});

test('the .d.ts describes the API precisely', () => {
  const dts = readFileSync(`${pkgDir}/index.d.ts`, 'utf8');
  assert.match(dts, /static open\(name: string, options: OpenOptions\): Promise<LocalRag>/);
  assert.match(dts, /static import\(name: string, file: Blob \| ArrayBuffer \| Uint8Array, options: ImportOptions\): Promise<LocalRag>/);
  assert.match(dts, /search\(query: string, options\?: SearchOptions\): Promise<Hit\[\]>/);
  assert.match(dts, /ask\(question: string, options\?: AskOptions\): Promise<Answer>/);
  assert.match(dts, /export\(\): Promise<Uint8Array>/);
  assert.match(dts, /readonly code: ErrorCode/);
  assert.doesNotMatch(dts, /[:<,(|]\s*any\b/, "no `any` types");
  const raw = readFileSync(`${pkgDir}/localrag.d.ts`, 'utf8');
  for (const type of ['DocumentInput', 'SearchOptions', 'Hit', 'AskOptions', 'Answer', 'Citation', 'KnowledgeBaseStats']) {
    assert.match(raw, new RegExp(`export (interface|type) ${type}\\b`), type);
  }
  // Every code the JS layer knows (generated from Rust) is in the type.
  const codes = readFileSync(`${pkgDir}/contract.js`, 'utf8').match(/"E_[A-Z_]+"/g);
  assert.ok(codes.length >= 17);
  for (const c of codes) assert.ok(raw.includes(`'${c.slice(1, -1)}'`), `${c} missing from ErrorCode`);
  assert.match(dts, /ErrorCode/);
  assert.equal(readFileSync(`${pkgDir}/worker.d.ts`, 'utf8').includes("export * from './index.js'"), true);
});

test('the test and bench exports are not in the shipped package, only in pkg-testing', () => {
  for (const glue of ['localrag.js', 'relaxed/localrag.js', 'threads/localrag.js', 'threads/relaxed/localrag.js']) {
    const shipped = readFileSync(`${pkgDir}/${glue}`, 'utf8');
    for (const name of ['__panicForTest', '__benchIndex', '__storedBytes', '__wasmMemoryBytes']) {
      assert.ok(!shipped.includes(name), `${name} ships in pkg/${glue}`);
    }
  }
  for (const glue of ['localrag.js']) {
    const testing = readFileSync(`${ROOT}pkg-testing/${glue}`, 'utf8');
    for (const name of ['__panicForTest', '__benchIndex', '__storedBytes', '__wasmMemoryBytes']) {
      assert.ok(testing.includes(name), `${name} missing from pkg-testing/${glue}`);
    }
  }
});

test('one method list: the page class, the Worker proxy and the Worker entry agree', async () => {
  const { METHODS } = await import(`${pkgDir}/shared.js`);
  const methods = (cls) => Object.getOwnPropertyNames(cls.prototype)
    .filter((n) => n !== 'constructor' && !n.startsWith('__') && typeof Object.getOwnPropertyDescriptor(cls.prototype, n).value === 'function')
    .sort();
  const page = (await import(`${pkgDir}/index.js`)).LocalRag;
  const worker = (await import(`${pkgDir}/worker.js`)).LocalRag;
  assert.deepEqual(methods(page), methods(worker));
  assert.deepEqual(methods(page), [...METHODS, 'close', 'destroy', 'onChange'].sort());
  const entry = readFileSync(`${pkgDir}/worker-entry.js`, 'utf8');
  assert.match(entry, /\[\.\.\.METHODS, 'close', 'destroy'\]/);
});

// The loader (wasm.js) picks the relaxed-SIMD module where its probe validates: the probe must
// need exactly what that module needs. Node 20 has relaxed SIMD behind a flag, so both answers
// are checked: without the flag the two agree (neither validates in Node 20), with it both do;
// the baseline module validates either way.
test('the relaxed-SIMD probe validates exactly where the relaxed modules do', () => {
  const script = `
    import { readFileSync } from 'node:fs';
    import { RELAXED_SIMD_PROBE } from '${pkgDir}/wasm.js';
    const v = (f) => WebAssembly.validate(readFileSync('${pkgDir}/' + f));
    console.log(JSON.stringify([WebAssembly.validate(RELAXED_SIMD_PROBE), v('relaxed/localrag_bg.wasm'), v('localrag_bg.wasm'),
      v('threads/relaxed/localrag_bg.wasm'), v('threads/localrag_bg.wasm')]));`;
  const run = (flags) => JSON.parse(execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' }));
  const [probe, relaxed, baseline, threadsRelaxed, threads] = run([]);
  assert.equal(probe, relaxed);
  assert.equal(probe, threadsRelaxed);
  assert.equal(baseline, true);
  assert.equal(threads, true);
  assert.deepEqual(run(['--experimental-wasm-relaxed-simd']), [true, true, true, true, true]);
  assert.match(readFileSync(`${pkgDir}/variants.js`, 'utf8'), /RELAXED_SIMD_BUILD = true;/);
  assert.match(readFileSync(`${pkgDir}/variants.js`, 'utf8'), /THREADS_BUILD = true;/);
});
