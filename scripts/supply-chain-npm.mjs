// supply-chain-npm.mjs: the npm half of `make test-supply` (scripts/supply-chain.sh runs it).
//
//   node scripts/supply-chain-npm.mjs [DIR...]   (default: the test apps below)
//
// For each DIR (a folder with package.json and package-lock.json) it checks, from the files
// alone (no network):
//   lock       lockfile v2/v3, in step with package.json, every direct dependency pinned exactly
//   sources    every package from the npm registry (no git, file, link or tarball URL), with a
//              sha512 integrity hash
//   licences   every package's SPDX licence satisfiable with ALLOWED_LICENSES, or an entry of
//              LICENSE_EXCEPTIONS for that folder
//   scripts    install scripts only where INSTALL_SCRIPTS lists them
// and then, with the registry, `npm audit --package-lock-only` (advisories at or above
// NPM_AUDIT_LEVEL, less AUDIT_IGNORE). Where the registry does not answer the audit (this
// project's machines: the registry proxy refuses the POST with 405), that check is reported as
// NOT RUN with the registry's answer, and fails only with SUPPLY_CHAIN_STRICT=1.
// SUPPLY_CHAIN_OFFLINE=1 skips the audit (no network at all).
//
// It also checks the npm package itself (pkg/, written by scripts/package-json.mjs): it must
// declare no dependencies of any kind, and its JS must import nothing but its own files, so its
// only supply chain is the Rust crate graph that cargo-deny checks.
//
// Exit status: 0 when nothing was found, 1 on a finding (or, strict, a check not run), 2 on a
// usage error.
import { readFileSync, existsSync, mkdtempSync, rmSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);

// ---- The allow-lists (every entry says why) ---------------------------------------------------

// Licences any npm package of the test apps may have. Only what the lockfiles use.
const ALLOWED_LICENSES = new Set([
  'MIT',
  'Apache-2.0',
  'ISC', // permissive, MIT-like (picocolors, semver, ...)
  'BSD-3-Clause', // permissive (source-map-js, protobufjs, ...)
  '0BSD', // tslib: public-domain-like
  'BSD-2-Clause', // permissive (mammoth, lop, entities: the loaders' libraries)
  'Zlib', // permissive (pako, with MIT: jszip's inflate, under mammoth)
]);

// Further licences accepted for named packages of one folder only.
const LICENSE_EXCEPTIONS = [
  {
    dir: 'www',
    name: /^duck$/,
    license: 'BSD',
    reason:
      "mammoth's dependency (through lop) declares the non-SPDX \"BSD\"; its LICENSE file is the " +
      '2-clause BSD text (Copyright 2013 Michael Williamson).',
  },
  {
    dir: 'tests/consumer',
    name: /^lightningcss(-.+)?$/,
    license: 'MPL-2.0',
    reason:
      "Vite 8's CSS minifier (native binary). MPL-2.0 is a file-level copyleft; the test app only " +
      'runs it at build time and is never distributed.',
  },
  {
    dir: 'tests/bench-tjs',
    name: /^@img\/sharp-(libvips-.+|wasm32|win32-.+)$/,
    license: 'LGPL-3.0-or-later',
    reason:
      "libvips binaries of sharp, an optional dependency of transformers.js (image input). The " +
      'benchmark never loads them (it uses the browser bundle), installs with --ignore-scripts, ' +
      'and nothing of it is distributed.',
  },
];

// Packages allowed to have install scripts (preinstall/install/postinstall), per folder.
const INSTALL_SCRIPTS = [
  {
    dir: 'www',
    name: /^esbuild$/,
    reason:
      "esbuild's postinstall only checks that its platform binary (@esbuild/linux-x64, an optional " +
      'dependency from the registry) is there; npm 11 does not run unapproved install scripts and ' +
      'esbuild works without it (it bundles the demo\'s loaders at build time; nothing of it is shipped)',
  },
  {
    dir: 'tests/bench-tjs',
    name: /^(onnxruntime-node|protobufjs)$/,
    reason: 'transformers.js dependencies; `make bench-tjs` installs with --ignore-scripts, so they never run',
  },
];

// npm audit: the lowest severity that fails the check (low, moderate, high, critical); lower
// ones are listed but pass.
const NPM_AUDIT_LEVEL = process.env.NPM_AUDIT_LEVEL ?? 'moderate';
// Accepted advisories: { dir, id: 'GHSA-xxxx-xxxx-xxxx', reason }. None so far (the audit has
// never been answered on this project's machines).
const AUDIT_IGNORE = [];

// ---- Helpers -----------------------------------------------------------------------------------

const STRICT = process.env.SUPPLY_CHAIN_STRICT === '1';
const OFFLINE = process.env.SUPPLY_CHAIN_OFFLINE === '1';
const SEVERITIES = ['info', 'low', 'moderate', 'high', 'critical'];
if (!SEVERITIES.includes(NPM_AUDIT_LEVEL)) {
  console.error(`supply-chain-npm: NPM_AUDIT_LEVEL=${NPM_AUDIT_LEVEL}: one of ${SEVERITIES.join(', ')}`);
  process.exit(2);
}

const rows = []; // [check, target, status, detail]
let failed = false;
const finding = (check, target, detail) => {
  failed = true;
  rows.push([check, target, 'FAIL', detail]);
};
const pass = (check, target, detail = '') => rows.push([check, target, 'ok', detail]);
const notRun = (check, target, detail) => {
  if (STRICT) failed = true;
  rows.push([check, target, STRICT ? 'FAIL' : 'NOT RUN', STRICT ? `not run: ${detail}` : detail]);
};

// SPDX expression → is there a choice of licences, all allowed? (AND, OR, WITH, parentheses.)
function spdxSatisfied(expr, allowed) {
  const tokens = expr.replace(/\(/g, ' ( ').replace(/\)/g, ' ) ').trim().split(/\s+/);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  function primary() {
    const t = next();
    if (t === undefined) throw new Error('unexpected end');
    if (t === '(') {
      const v = or();
      if (next() !== ')') throw new Error('missing )');
      return v;
    }
    let id = t;
    if (peek() === 'WITH') {
      next();
      id = `${t} WITH ${next()}`;
    }
    return allowed(id);
  }
  function and() {
    let v = primary();
    while (peek() === 'AND') {
      next();
      v = primary() && v;
    }
    return v;
  }
  function or() {
    let v = and();
    while (peek() === 'OR') {
      next();
      v = and() || v;
    }
    return v;
  }
  const v = or();
  if (i !== tokens.length) throw new Error(`unexpected "${tokens[i]}"`);
  return v;
}

// The libraries localrag/loaders imports: optional peer dependencies of the package.
const LOADER_PEERS = new Set(['pdfjs-dist', 'mammoth', 'marked', 'parse5']);

const EXACT = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const DEP_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];
const pkgName = (key) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);

// ---- One test app ------------------------------------------------------------------------------

function checkApp(dirArg) {
  const dir = relative(root, resolve(dirArg)) || '.';
  const abs = resolve(root, dir);
  const lockPath = join(abs, 'package-lock.json');
  if (!existsSync(lockPath)) {
    finding('lock', dir, 'no package-lock.json');
    return;
  }
  const manifest = JSON.parse(readFileSync(join(abs, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
  const entries = Object.entries(lock.packages ?? {}).filter(([k]) => k !== '');

  // lock
  const problems = [];
  if (!(lock.lockfileVersion >= 2)) problems.push(`lockfileVersion ${lock.lockfileVersion} (need 2 or 3)`);
  const rootEntry = lock.packages?.[''] ?? {};
  for (const f of DEP_FIELDS) {
    const a = JSON.stringify(manifest[f] ?? {});
    const b = JSON.stringify(rootEntry[f] ?? {});
    if (a !== b) problems.push(`${f} in package.json ${a} != lockfile ${b}`);
    for (const [n, spec] of Object.entries(manifest[f] ?? {})) {
      if (!EXACT.test(spec)) problems.push(`${n}@${spec} is not pinned to one version`);
    }
  }
  if (problems.length) finding('lock', dir, problems.join('; '));
  else pass('lock', dir, `${entries.length} packages`);

  // sources
  const bad = [];
  for (const [key, e] of entries) {
    const id = `${pkgName(key)}@${e.version}`;
    if (e.link) bad.push(`${key}: link to ${e.resolved}`);
    else if (!e.version || !EXACT.test(e.version)) bad.push(`${key}: version ${e.version}`);
    else if (e.resolved !== undefined && !e.resolved.startsWith('https://registry.npmjs.org/'))
      bad.push(`${id}: resolved from ${e.resolved}`);
    else if (!/^sha512-/.test(e.integrity ?? '')) bad.push(`${id}: integrity ${e.integrity ?? 'missing'}`);
  }
  if (bad.length) finding('sources', dir, bad.join('; '));
  else pass('sources', dir, 'npm registry only, sha512 integrity');

  // licences
  const lic = [];
  const counts = {};
  for (const [key, e] of entries) {
    if (e.link) continue;
    const name = pkgName(key);
    let l = e.license;
    if (l && typeof l === 'object') l = l.type;
    const extra = LICENSE_EXCEPTIONS.filter((x) => x.dir === dir && x.name.test(name));
    const allowed = (id) => {
      if (ALLOWED_LICENSES.has(id)) return true;
      const x = extra.find((x) => x.license === id);
      if (x) x.used = true;
      return Boolean(x);
    };
    let ok = false;
    try {
      ok = typeof l === 'string' && spdxSatisfied(l, allowed);
    } catch (err) {
      lic.push(`${name}@${e.version}: licence "${l}" is not an SPDX expression (${err.message})`);
      continue;
    }
    if (!ok) lic.push(`${name}@${e.version}: ${l ?? 'no licence'}`);
    counts[l] = (counts[l] ?? 0) + 1;
  }
  if (lic.length) finding('licences', dir, lic.join('; '));
  else
    pass(
      'licences',
      dir,
      Object.entries(counts)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
    );

  // install scripts
  const scripts = [];
  for (const [key, e] of entries) {
    if (!e.hasInstallScript) continue;
    const name = pkgName(key);
    const x = INSTALL_SCRIPTS.find((x) => x.dir === dir && x.name.test(name));
    if (x) x.used = true;
    else scripts.push(`${name}@${e.version}`);
  }
  if (scripts.length) finding('scripts', dir, `install scripts not allowed: ${scripts.join(', ')}`);
  else pass('scripts', dir, 'no unlisted install scripts');

  // advisories
  if (OFFLINE) {
    notRun('npm audit', dir, 'SUPPLY_CHAIN_OFFLINE=1');
    return;
  }
  const r = spawnSync(
    'npm',
    ['audit', '--json', '--package-lock-only', '--include=dev', '--include=optional', '--fetch-retries=0', '--fetch-timeout=20000'],
    { cwd: abs, encoding: 'utf8', timeout: 30_000 },
  );
  let report;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    report = null;
  }
  if (!report || report.auditReportVersion === undefined) {
    const why =
      report?.message ??
      report?.error?.summary ??
      (r.error ? String(r.error) : (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').pop());
    notRun('npm audit', dir, `registry gave no audit: ${why}`);
    return;
  }
  const seen = new Map();
  for (const v of Object.values(report.vulnerabilities ?? {})) {
    for (const via of v.via ?? []) {
      if (typeof via !== 'object') continue;
      const id = (via.url ?? '').match(/GHSA-[\w-]+/)?.[0] ?? String(via.source);
      seen.set(`${via.name}|${id}`, { id, name: via.name, range: via.range, severity: via.severity, title: via.title });
    }
  }
  const fails = [];
  const below = [];
  for (const a of seen.values()) {
    const ign = AUDIT_IGNORE.find((x) => x.dir === dir && x.id === a.id);
    const text = `${a.name} ${a.range}: ${a.id} ${a.severity} "${a.title}"`;
    if (ign) {
      ign.used = true;
      below.push(`${text} (ignored: ${ign.reason})`);
    } else if (SEVERITIES.indexOf(a.severity) >= SEVERITIES.indexOf(NPM_AUDIT_LEVEL)) fails.push(text);
    else below.push(text);
  }
  if (fails.length) finding('npm audit', dir, fails.join('; '));
  else pass('npm audit', dir, below.length ? `below ${NPM_AUDIT_LEVEL}: ${below.join('; ')}` : 'no advisories');
}

// ---- The package itself (pkg/) -------------------------------------------------------------------

// A bare specifier (not ./ ../ / or a URL) in an import of the package's JS would be a
// dependency that package.json does not declare.
function bareImports(file) {
  const src = readFileSync(file, 'utf8');
  const specs = [
    ...src.matchAll(/^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm),
    ...src.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
    ...src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => m[1]);
  return specs.filter((s) => !/^(\.{1,2}\/|\/|[a-z][a-z0-9+.-]*:)/i.test(s));
}
const jsFiles = (dir) =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? jsFiles(p) : /\.m?js$/.test(f) ? [p] : [];
  });

function checkPackage() {
  // The package.json that `make pkg` writes, from the current sources (into a scratch folder:
  // scripts/package-json.mjs copies src/web/js there and writes package.json).
  const tmp = mkdtempSync(join(tmpdir(), 'localrag-pkg-'));
  try {
    const r = spawnSync('node', [join(root, 'scripts/package-json.mjs'), tmp], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) {
      finding('package', 'pkg', `scripts/package-json.mjs failed: ${(r.stderr || r.stdout).trim()}`);
      return;
    }
    const problems = [];
    const manifests = [['generated', JSON.parse(readFileSync(join(tmp, 'package.json'), 'utf8'))]];
    if (existsSync(join(root, 'pkg/package.json')))
      manifests.push(['pkg/package.json', JSON.parse(readFileSync(join(root, 'pkg/package.json'), 'utf8'))]);
    for (const [what, m] of manifests) {
      for (const f of [...DEP_FIELDS, 'bundleDependencies', 'bundledDependencies']) {
        if (f === 'peerDependencies') continue;
        if (m[f] && Object.keys(m[f]).length) problems.push(`${what} declares ${f}: ${JSON.stringify(m[f])}`);
      }
      for (const [n, range] of Object.entries(m.peerDependencies ?? {})) {
        if (!LOADER_PEERS.has(n)) problems.push(`${what} declares the peer dependency ${n}@${range}, not one of the loaders' libraries`);
        else if (m.peerDependenciesMeta?.[n]?.optional !== true) problems.push(`${what}: the peer dependency ${n} is not optional`);
      }
      for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) {
        if (m.scripts?.[s]) problems.push(`${what} has a ${s} script`);
      }
    }
    const files = [...jsFiles(tmp), ...(existsSync(join(root, 'pkg')) ? jsFiles(join(root, 'pkg')) : [])];
    for (const f of files) {
      // The loaders may import their optional peer dependencies; nothing else may import a package.
      const isLoader = /[\\/]loaders[\\/][^\\/]+$/.test(f);
      const bare = bareImports(f).filter((s) => !(isLoader && LOADER_PEERS.has(s.replace(/^((?:@[^/]+\/)?[^/]+).*$/, '$1'))));
      const shown = f.startsWith(tmp) ? join('src/web/js', relative(tmp, f)) : relative(root, f);
      if (bare.length) problems.push(`${shown} imports ${bare.join(', ')}`);
    }
    if (problems.length) finding('package', 'pkg', problems.join('; '));
    else
      pass(
        'package',
        'pkg',
        `no dependencies (the loaders' libraries optional peers), no install scripts, ${files.length} JS files import only their own files and the loaders their peers` +
          (manifests.length > 1 ? '' : ' (pkg/ not built: generated package.json checked)'),
      );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---- Main ----------------------------------------------------------------------------------------

const dirs = process.argv.slice(2);
const apps = dirs.length ? dirs : ['www', 'tests/e2e', 'tests/consumer', 'tests/bench-tjs'].filter((d) => existsSync(join(root, d, 'package.json')));
checkPackage();
for (const d of apps) checkApp(d);

// Allow-list entries that matched nothing (a dependency went away): keep the lists exact.
const checked = new Set(apps.map((d) => relative(root, resolve(d))));
for (const x of [...LICENSE_EXCEPTIONS, ...INSTALL_SCRIPTS]) {
  if (checked.has(x.dir) && !x.used) finding('allow-list', x.dir, `unused entry ${x.name} ${x.license ?? 'install script'}: remove it`);
}

const w = [0, 0, 0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const [c, t, s, d] of rows) console.log(`  ${c.padEnd(w[0])}  ${t.padEnd(w[1])}  ${s.padEnd(w[2])}  ${d}`);
process.exit(failed ? 1 : 0);
