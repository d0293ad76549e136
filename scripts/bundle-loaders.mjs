// Bundles a package's loaders (PKG/loaders, default pkg) with their libraries from
// www/node_modules into OUT/loaders (default www/pkg/loaders), as a site's bundler would: PDF.js,
// its worker, mammoth, marked and parse5 each become a module of their own, fetched only when a
// file of their format is loaded. The demo and the loader tests serve the result; the npm package
// itself ships the loaders unbundled, with the libraries as optional peer dependencies.
//   node scripts/bundle-loaders.mjs [PKG] [OUT]
import esbuild from '../www/node_modules/esbuild/lib/main.js';

const [pkg = 'pkg', out = 'www/pkg'] = process.argv.slice(2);
await esbuild.build({
  entryPoints: [`${pkg}/loaders/index.js`],
  bundle: true,
  format: 'esm',
  splitting: true,
  platform: 'browser',
  target: 'es2022',
  outdir: `${out}/loaders`,
  nodePaths: ['www/node_modules'],
  logLevel: 'warning',
  // The package's own modules stay shared with the rest of the package (one LocalRagError).
  plugins: [{
    name: 'package-modules',
    setup(b) {
      b.onResolve({ filter: /^\.\.\/[a-z-]+\.js$/ }, (a) => ({ path: a.path, external: true }));
    },
  }],
});
