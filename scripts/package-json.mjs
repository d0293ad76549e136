// Writes pkg/package.json for the npm package (wasm-bindgen emits the JS, .d.ts and .wasm).
import { readFileSync, writeFileSync } from 'node:fs';

const cargo = readFileSync(new URL('../Cargo.toml', import.meta.url), 'utf8');
const field = (name) => cargo.match(new RegExp(`^${name} = "([^"]*)"`, 'm'))[1];

const pkg = {
  name: 'localrag',
  version: field('version'),
  description: field('description'),
  license: field('license'),
  type: 'module',
  main: './localrag.js',
  module: './localrag.js',
  types: './localrag.d.ts',
  exports: {
    '.': { types: './localrag.d.ts', default: './localrag.js' },
    './localrag_bg.wasm': './localrag_bg.wasm',
    './package.json': './package.json',
  },
  files: ['localrag.js', 'localrag.d.ts', 'localrag_bg.wasm', 'localrag_bg.wasm.d.ts', 'README.md'],
  sideEffects: false,
  keywords: ['rag', 'embeddings', 'webgpu', 'wasm', 'burn', 'private', 'offline'],
};
writeFileSync(new URL('../pkg/package.json', import.meta.url), JSON.stringify(pkg, null, 2) + '\n');
