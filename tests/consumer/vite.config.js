// Built as an application would build it: localrag comes from node_modules (the packed
// tarball), its wasm and its Worker are emitted as assets by Vite's `new URL(…, import.meta.url)`
// handling.
import { defineConfig } from 'vite';

// The two headers that make the page cross-origin isolated, so that localrag may load its
// threaded module (the README's "Threads"): sent by `vite` (dev) and `vite preview`. The tests
// serve dist/ with tests/serve.py, with and without them.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  server: { headers: isolation },
  preview: { headers: isolation },
  // The dev server's pre-bundling would rewrite `new URL('…', import.meta.url)` inside the
  // package; a production build does not pre-bundle, but keep the two alike.
  optimizeDeps: { exclude: ['localrag'] },
  // The package's Worker is a module Worker (`{ type: 'module' }`) that imports the glue.
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // Keep every asset a file (the tests check that the .wasm and the Worker are emitted).
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 4096,
  },
});
