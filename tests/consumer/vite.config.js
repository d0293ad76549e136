// Built as an application would build it: localrag comes from node_modules (the packed
// tarball), its wasm and its Worker are emitted as assets by Vite's `new URL(…, import.meta.url)`
// handling.
import { defineConfig } from 'vite';

export default defineConfig({
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
