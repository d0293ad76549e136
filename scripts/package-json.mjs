// Completes pkg/ (or the folder given, e.g. pkg-testing) as the npm package: wasm-bindgen emits
// the low-level glue (localrag.js, its .d.ts and the .wasm); this copies the public API
// (src/web/js: `LocalRag` for the calling thread, the model fetching, the Worker proxy and the
// Worker's entry, with their types) and writes package.json. Run alone
// (`node scripts/package-json.mjs [dir]`) it refreshes the JS of an existing package without
// rebuilding the wasm.
import { readFileSync, writeFileSync, readdirSync, existsSync, mkdirSync } from 'node:fs';

// Each file is written only where its bytes change: a run on a complete package (the consumer
// test, beside the end-to-end suites that read pkg/) never leaves a file half-written.
const put = (url, data) => {
  const bytes = Buffer.from(data);
  if (!existsSync(url) || !readFileSync(url).equals(bytes)) writeFileSync(url, bytes);
};
const copy = (from, to) => put(to, readFileSync(from));

const root = new URL('../', import.meta.url);
const cargo = readFileSync(new URL('Cargo.toml', root), 'utf8');
const field = (name) => cargo.match(new RegExp(`^${name} = "([^"]*)"`, 'm'))[1];

const out = new URL(`${process.argv[2] ?? 'pkg'}/`, root);
const js = new URL('src/web/js/', root);
const ours = readdirSync(js).filter((f) => /\.(js|d\.ts)$/.test(f)).sort();
for (const f of ours) copy(new URL(f, js), new URL(f, out));
// localrag/loaders: files to documents, in a folder of its own.
mkdirSync(new URL('loaders/', out), { recursive: true });
const loaders = readdirSync(new URL('loaders/', js)).filter((f) => /\.(js|d\.ts)$/.test(f)).sort();
for (const f of loaders) copy(new URL(`loaders/${f}`, js), new URL(`loaders/${f}`, out));
// The libraries of the loaders: optional peer dependencies, imported only when a file of their
// format is loaded (a page that adds text alone never needs them).
const LOADER_PEERS = { 'pdfjs-dist': '^6.5.438', mammoth: '^1.13.0', marked: '^18.2.1', parse5: '^8.1.1' };
// What this package carries, for src/web/js/wasm.js: the relaxed-SIMD modules are built for the
// published package (make pkg), not for pkg-testing; both have the threaded module.
const has = (dir) => existsSync(new URL(`${dir}/localrag_bg.wasm`, out));
const relaxed = has('relaxed');
const threads = has('threads');
if (threads && relaxed !== has('threads/relaxed')) throw new Error(`${out.pathname}: threads/relaxed does not match relaxed/`);
put(
  new URL('variants.js', out),
  '// Written by scripts/package-json.mjs: which wasm modules this package carries.\n' +
    `export const RELAXED_SIMD_BUILD = ${relaxed};\n` +
    `export const THREADS_BUILD = ${threads};\n`,
);
const generated = ['variants.js'];
const glue = (dir) => ['localrag.js', 'localrag.d.ts', 'localrag_bg.wasm', 'localrag_bg.wasm.d.ts'].map((f) => `${dir}/${f}`);
const variantDirs = [...(relaxed ? ['relaxed'] : []), ...(threads ? ['threads'] : []), ...(threads && relaxed ? ['threads/relaxed'] : [])];
const variantFiles = variantDirs.flatMap(glue);

const pkg = {
  name: 'localrag',
  version: field('version'),
  description: field('description'),
  license: field('license'),
  type: 'module',
  main: './index.js',
  module: './index.js',
  types: './index.d.ts',
  exports: {
    '.': { types: './index.d.ts', default: './index.js' },
    './worker': { types: './worker.d.ts', default: './worker.js' },
    './raw': { types: './localrag.d.ts', default: './localrag.js' },
    './loaders': { types: './loaders/index.d.ts', default: './loaders/index.js' },
    './localrag_bg.wasm': './localrag_bg.wasm',
    ...Object.fromEntries(variantDirs.map((d) => [`./${d}/localrag_bg.wasm`, `./${d}/localrag_bg.wasm`])),
    './package.json': './package.json',
  },
  files: [...ours, ...loaders.map((f) => `loaders/${f}`), ...generated, ...variantFiles, 'localrag.js', 'localrag.d.ts', 'localrag_bg.wasm', 'localrag_bg.wasm.d.ts', 'README.md', 'LICENSE-MIT', 'LICENSE-APACHE'],
  // Only the wasm-bindgen glue has a side effect (it instantiates on init); the entry points
  // have none at import time, so bundlers may drop what a page does not use.
  sideEffects: false,
  peerDependencies: LOADER_PEERS,
  peerDependenciesMeta: Object.fromEntries(Object.keys(LOADER_PEERS).map((k) => [k, { optional: true }])),
  keywords: ['rag', 'embeddings', 'webgpu', 'wasm', 'burn', 'private', 'offline', 'llm', 'search'],
};
put(new URL('package.json', out), JSON.stringify(pkg, null, 2) + '\n');
