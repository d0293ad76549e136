// Real crashes (issue 15): Chromium with a persistent profile is SIGKILLed — the whole process
// group, the browser and its renderer, GPU and storage processes — at seeded points during `add`
// (some of which rebuild the HNSW index and save its snapshot), `remove` and `import`; then it is
// launched again on the same profile and the knowledge base is checked:
//   - `open` succeeds (no E_CORRUPT), or — only where Chromium's log says it deleted the
//     database as corrupt — says E_LOST, and the last export restores it (counted in the tally);
//   - the set of documents is the state before or after the interrupted batch, never a mix, and
//     the state after when the call had resolved before the kill (nothing acknowledged is lost);
//   - every document is whole: its text is the text added, every chunk is present and
//     `doc.text.slice(start, end) === chunk.text`, and `stats()` counts agree with `list()`;
//   - search works and finds each sampled chunk by its own text (the HNSW snapshot, loaded or
//     rebuilt, agrees with the stored vectors); `ask` works (a tiny generator, at the end).
// Both entry points. CRASH_KILLS kills per entry point (default 26, so 52 in `make test`) and
// CRASH_SEED make other runs (`make crash`: a longer seeded run). The seed chooses the
// operations and where in each the kill falls (a share of how long such a call has taken on
// this machine, or a delay after its 'store' or 'index' progress).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, modelSet, startServer } from './browser.mjs';

const PORT = 8774;
const KILLS = Number(process.env.CRASH_KILLS ?? 26);
const SEED = Number(process.env.CRASH_SEED ?? 1);
// CRASH_MODELS=slices (`make test`): the two-block slices of the shipped models
// (tests/reference/make_slices.py: the real tokenizers, prompt format and kernels), as the long
// session uses them: what is checked is the knowledge base's storage, and the run spends its
// time in writes, launches and checks instead of embeddings. CRASH_MODELS=real (`make crash`):
// the shipped MiniLM Q8_0 and SmolLM2 Q4_1.
const { name: MODEL_SET, ...MODELS } = modelSet('CRASH_MODELS');
const EMBEDDER = MODELS.embedder;
// Small chunks and a low exact-search threshold, so that a few dozen short documents make many
// chunks and the HNSW base is built, compacted and its snapshot saved during the run.
const OPTIONS = { embedder: EMBEDDER, backend: 'cpu', chunkTokens: 40, chunkOverlap: 8, exactBelow: 24 };

/** mulberry32: a small seeded generator, so that a failing run can be repeated exactly. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('river harbour lantern copper meadow glacier orchard violin compass granite ' +
  'falcon thunder saffron canyon ember willow quartz beacon tundra marble cedar comet ' +
  'basalt heron juniper lagoon mosaic nectar obsidian prairie quiver rapids sierra').split(' ');

/** A document of 1–4 chunks whose every sentence names it, so no two chunks have one text. */
function makeDoc(random, id, version) {
  const sentences = [];
  const n = 2 + Math.floor(random() * 10);
  for (let s = 0; s < n; s++) {
    const words = [];
    for (let w = 0; w < 5 + Math.floor(random() * 8); w++) words.push(WORDS[Math.floor(random() * WORDS.length)]);
    sentences.push(`Entry ${id} version ${version} line ${s} mentions the ${words.join(' ')}.`);
  }
  return { id, title: `Title ${id}`, text: sentences.join(' '), metadata: { version } };
}

/** Launches Chromium on `profile` in its own process group; resolves with the process and the
 * DevTools WebSocket address it prints. */
function launchOnProfile(profile) {
  const proc = spawn(process.env.CHROMIUM ?? '/usr/bin/chromium', [
    ...CHROMIUM_ARGS, '--headless=new', `--user-data-dir=${profile}`, '--remote-debugging-port=0',
    // Errors of the IndexedDB backing store (LevelDB: a corrupt one is deleted and recreated
    // empty) go to stderr, which a failure's report prints.
    '--enable-logging=stderr', 'about:blank',
  ], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`Chromium did not start: ${err.slice(-2000)}`)), 60_000);
    proc.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        proc.stderr.removeAllListeners('data');
        // Chromium's own log, kept for a failure's report (storage errors show there).
        proc.log = err;
        proc.stderr.on('data', (d) => { proc.log = (proc.log + d).slice(-20_000); });
        resolve({ proc, ws: m[1] });
      }
    });
    proc.on('exit', (code) => reject(new Error(`Chromium exited (${code}): ${err.slice(-2000)}`)));
  });
}

/** Processes of group `pgid` that are not yet dead (zombies are: they hold no files). */
function liveMembers(pgid) {
  const live = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { continue; }
    // pid (comm) state ppid pgrp …: comm may hold spaces, so split after its last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') live.push(pid);
  }
  return live;
}

/** SIGKILL to the whole process group; resolves when every process of it is dead — as after a
 * real crash, where the browser is started again once the old one is gone (a storage process
 * still dying would hold the profile's database files). */
async function killGroup(proc) {
  const exited = proc.exitCode !== null || proc.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => proc.once('exit', resolve));
  try { process.kill(-proc.pid, 'SIGKILL'); } catch {}
  await exited;
  let waits = 0;
  const first = liveMembers(proc.pid);
  if (first.length && process.env.CRASH_TIMING) {
    const kinds = first.map((pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').match(/--type=([\w-]+)/)?.[1] ?? 'browser'; } catch { return '?'; } });
    console.log(`still alive after the browser's exit: ${kinds.join(' ')}`);
  }
  // CRASH_NO_WAIT=1 relaunches at once instead: what made Chromium find its database
  // corrupt and delete it (the E_LOST path of the harness) in earlier runs.
  if (process.env.CRASH_NO_WAIT) return 0;
  for (; waits < 500 && liveMembers(proc.pid).length; waits++) await new Promise((r) => setTimeout(r, 20));
  const left = liveMembers(proc.pid);
  if (left.length) throw new Error(`processes ${left.join(' ')} of the killed browser are still alive after 10 s`);
  return waits;
}

// In the page: open, check and describe a knowledge base. `expected` is not known here: the
// page reports what it finds and the test compares.
const PAGE_HELPERS = `
globalThis.openKb = async (entry, name, options) => {
  const { LocalRag } = await import('./pkg/' + entry);
  globalThis.LocalRag = LocalRag;
  return LocalRag.open(name, options);
};
globalThis.describeKb = async (rag, random) => {
  const problems = [];
  const list = await rag.list();
  const docs = {};
  let chunks = 0;
  const sample = [];
  for (const info of list) {
    const doc = await rag.get(info.id);
    if (!doc) { problems.push('listed but get() is undefined: ' + info.id); continue; }
    docs[doc.id] = { text: doc.text, title: doc.title, version: doc.metadata?.version };
    if (doc.chunks.length === 0) problems.push('no chunks: ' + doc.id);
    if (doc.chunks.length !== info.chunks) problems.push('chunk count ' + doc.chunks.length + ' != list ' + info.chunks + ': ' + doc.id);
    let covered = 0;
    for (const c of doc.chunks) {
      if (doc.text.slice(c.start, c.end) !== c.text) problems.push('chunk text is not the slice: ' + c.id);
      if (c.start < covered - 400) problems.push('chunk out of order: ' + c.id);
      covered = Math.max(covered, c.end);
    }
    if (covered !== doc.text.trimEnd().length && covered !== doc.text.length) problems.push('chunks end at ' + covered + ' of ' + doc.text.length + ': ' + doc.id);
    chunks += doc.chunks.length;
    if (doc.chunks.length) sample.push(doc.chunks[Math.floor(random * 997) % doc.chunks.length]);
  }
  const stats = await rag.stats();
  if (stats.documents !== list.length) problems.push('stats.documents ' + stats.documents + ' != ' + list.length);
  if (stats.chunks !== chunks) problems.push('stats.chunks ' + stats.chunks + ' != ' + chunks);
  // Each of three sampled chunks is found by its own text (vector search: the index), and a
  // hybrid search returns only listed documents.
  for (const c of sample.slice(0, 3)) {
    const hits = await rag.search(c.text, { mode: 'vector', k: 3 });
    if (!hits.some((h) => h.chunkId === c.id)) problems.push('vector search does not find chunk ' + c.id + ' by its text');
  }
  if (list.length) {
    const hits = await rag.search('harbour lantern copper', { k: 10 });
    for (const h of hits) if (!docs[h.docId]) problems.push('hit from an unlisted document ' + h.docId);
    if (hits.length === 0) problems.push('hybrid search found nothing');
  }
  return { docs, problems, snapshot: stats.snapshot, baseSegment: stats.baseSegment, skipped: stats.skippedRecords };
};
`;

function sameDocs(found, expected) {
  const ids = Object.keys(found).sort();
  const want = [...expected.keys()].sort();
  if (JSON.stringify(ids) !== JSON.stringify(want)) return false;
  return want.every((id) => found[id].text === expected.get(id).text && found[id].title === expected.get(id).title);
}

function describe(state) {
  return [...state.keys()].sort().map((id) => `${id}@${state.get(id).metadata.version}`).join(' ');
}


for (const entry of ['index.js', 'worker.js']) {
  test(`${entry}: ${KILLS} SIGKILLs during add, remove, import and index rebuilds lose nothing and break nothing (${MODEL_SET} of the models)`, { timeout: 1_800_000 }, async (t) => {
    const server = await startServer('www', PORT);
    const profile = mkdtempSync(join(tmpdir(), 'localrag-crash-'));
    const random = rng(SEED * 1000 + (entry === 'worker.js' ? 1 : 0));
    let state = new Map(); // what 'crash' holds: id → document
    let imported = new Map(); // what 'crash-import' holds
    let exportFile = null; // { base64, state }: an export of 'crash' taken when its state was known
    let pending = null; // the interrupted write to 'crash': { before, after, resolved, what }
    let pendingImport = null; // the interrupted import into 'crash-import'
    let importLost = false; // Chromium deleted the origin's IndexedDB since the last import
    let nextId = 0;
    let version = 0;
    // How long each kind of call took when it finished before its kill (this machine's speed):
    // kill delays are drawn within that window, so that they land inside the calls.
    const durations = { add: [], store: [], remove: [], import: [] };
    const typical = (kind, guess) => {
      const d = durations[kind].slice(-7).sort((a, b) => a - b);
      return d.length ? d[d.length >> 1] : guess;
    };
    const tally = { add: 0, remove: 0, import: 0, killsAtStore: 0, killsAtIndexRebuild: 0, resolvedBeforeKill: 0, foundBefore: 0, foundAfter: 0, snapshotRebuilt: 0, groupOutlivedBrowser: 0, lostByBrowser: 0 };
    let proc;
    try {
      for (let kill = 0; kill <= KILLS; kill++) {
        let ws;
        const previousLog = proc?.log ?? '';
        const t0 = Date.now();
        ({ proc, ws } = await launchOnProfile(profile));
        const t1 = Date.now();
        const browser = await chromium.connectOverCDP(ws);
        const context = browser.contexts()[0];
        const page = context.pages()[0] ?? await context.newPage();
        await page.goto(`${server.url}__blank__`);
        await page.evaluate(PAGE_HELPERS);

        // The check after the previous kill (the first launch checks the empty profile).
        // Where Chromium deleted the database as damaged (see the finding in README
        // "Guarantees"), `open` must say E_LOST; the page then restores the last export.
        const found = await page.evaluate(async ({ entry, OPTIONS, r, file }) => {
          try {
            globalThis.rag = await openKb(entry, 'crash', OPTIONS);
            return describeKb(rag, r);
          } catch (e) {
            if (e.code !== 'E_LOST') throw e;
            if (file) {
              const bytes = Uint8Array.from(atob(file), (c) => c.charCodeAt(0));
              globalThis.rag = await LocalRag.import('crash', bytes, { ...OPTIONS, overwrite: true });
            } else {
              await LocalRag.destroy('crash');
              globalThis.rag = await LocalRag.open('crash', OPTIONS);
            }
            return { ...await describeKb(rag, r), lost: e.message };
          }
        }, { entry, OPTIONS, r: random(), file: exportFile?.base64 ?? null });
        if (found.lost) {
          // Only where Chromium says it deleted a corrupt database: localrag never reports a
          // loss of its own making.
          assert.match(proc.log, /recovering from a corrupted \(and deleted\) database/,
            `after kill ${kill}: E_LOST (${found.lost}) but Chromium's log does not say it deleted the database:\n${proc.log.slice(-4000)}`);
          console.log(`after kill ${kill}: Chromium deleted the damaged IndexedDB; open said E_LOST; restored from the export`);
          tally.lostByBrowser++;
          state = exportFile ? new Map(exportFile.state) : new Map();
          pending = null;
          // The whole origin's IndexedDB went: the import target's too.
          importLost = true;
        }
        const t2 = Date.now();
        if (process.env.CRASH_TIMING) console.log(`launch ${t1 - t0} ms, open+check ${t2 - t1} ms`);
        assert.deepEqual(found.problems, [], `after kill ${kill}: ${found.problems.join('; ')}`);
        assert.equal(found.skipped, 0, `after kill ${kill}: skipped records`);
        if (String(found.snapshot).startsWith('rebuilt')) tally.snapshotRebuilt++;
        if (pending) {
          const { before, after, resolved, what } = pending;
          if (sameDocs(found.docs, after)) {
            tally.foundAfter++;
            state = after;
          } else {
            if (!sameDocs(found.docs, before)) {
              // What IndexedDB itself holds, for the report.
              const raw = await page.evaluate(async () => {
                const dbs = await indexedDB.databases();
                const db = await new Promise((res, rej) => { const r = indexedDB.open('localrag:crash'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
                const out = { dbs: dbs.map((d) => `${d.name}@${d.version}`), stores: {} };
                for (const name of db.objectStoreNames) {
                  out.stores[name] = await new Promise((res) => { const q = db.transaction(name).objectStore(name).getAllKeys(); q.onsuccess = () => res(q.result.length + ' ' + q.result.slice(0, 5).join(',')); });
                }
                db.close();
                return out;
              }).catch((e) => String(e));
              console.log(`after kill ${kill}: raw IndexedDB: ${JSON.stringify(raw)}; stats snapshot ${found.snapshot}`);
              console.log(`Chromium's log before the kill:\n${previousLog.slice(-4000)}\nand after the relaunch:\n${proc.log.slice(-4000)}`);
            }
            assert.ok(!resolved, `after kill ${kill}: ${what} had resolved before the kill but is not stored: ` +
              `found ${Object.keys(found.docs).sort().join(' ')}, want ${describe(after)}`);
            assert.ok(sameDocs(found.docs, before), `after kill ${kill}: ${what} left a mix: ` +
              `found ${Object.entries(found.docs).map(([id, d]) => `${id}@${d.version}`).sort().join(' ')}; ` +
              `before ${describe(before)}; after ${describe(after)}`);
            tally.foundBefore++;
            state = before;
          }
          pending = null;
        } else {
          assert.ok(sameDocs(found.docs, state), `after kill ${kill}: unexpected documents`);
        }
        if (pendingImport) {
          const { before, after, resolved } = pendingImport;
          const got = await page.evaluate(async ({ OPTIONS, r }) => {
            const other = await LocalRag.open('crash-import', OPTIONS).catch(async (e) => {
              if (e.code !== 'E_LOST') throw e;
              await LocalRag.destroy('crash-import');
              return null;
            });
            if (!other) return { lost: true, docs: {}, problems: [] };
            const d = await describeKb(other, r);
            await other.close();
            return d;
          }, { OPTIONS, r: random() });
          assert.ok(!got.lost || importLost, `import, after kill ${kill}: E_LOST, but the origin's IndexedDB was not deleted`);
          assert.deepEqual(got.problems, [], `import, after kill ${kill}: ${got.problems.join('; ')}`);
          importLost = false;
          if (got.lost) {
            imported = new Map(); // deleted by Chromium with the rest of the origin's IndexedDB
          } else if (sameDocs(got.docs, after)) {
            tally.foundAfter++;
            imported = after;
          } else {
            assert.ok(!resolved, `after kill ${kill}: the import had resolved before the kill but is not stored`);
            assert.ok(sameDocs(got.docs, before), `after kill ${kill}: the import left a mix: found ` +
              `${Object.keys(got.docs).sort().join(' ')}; before ${describe(before)}; after ${describe(after)}`);
            tally.foundBefore++;
            imported = before;
          }
          pendingImport = null;
        }
        if (kill === KILLS) {
          // The last launch: ask works on what survived.
          const answer = await page.evaluate(async ({ entry, OPTIONS, MODELS }) => {
            await rag.close();
            const withGen = await openKb(entry, 'crash', { ...OPTIONS, generator: MODELS.generator });
            const a = await withGen.ask('Which entry mentions the harbour?', { maxTokens: 4 });
            await withGen.close();
            return { passages: a.passages.length, finishReason: a.finishReason, answer: a.answer };
          }, { entry, OPTIONS, MODELS });
          if (state.size) assert.ok(answer.passages > 0, 'ask was given passages');
          assert.ok(answer.finishReason, 'ask ran the model');
          await browser.close().catch(() => {});
          await killGroup(proc);
          break;
        }
        // Now and then an export of the known state, for the imports.
        if (state.size >= 4 && (!exportFile || random() < 0.15)) {
          exportFile = { base64: await page.evaluate(async () => {
            const bytes = await rag.export();
            let s = '';
            for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
            return btoa(s);
          }), state: new Map(state) };
        }

        // The operation and the kill point.
        const roll = random();
        const op = state.size < 6 || roll < 0.55 ? 'add' : roll < 0.8 || !exportFile ? 'remove' : 'import';
        let call;
        let triggerStage = null;
        let delay;
        if (op === 'add') {
          const batch = [];
          const n = 2 + Math.floor(random() * 6);
          version++;
          // Sometimes one document of the batch replaces a stored one (its new text must be
          // stored whole with the rest of the batch, or not at all).
          if (state.size && random() < 0.4) {
            const ids = [...state.keys()];
            batch.push(makeDoc(random, ids[Math.floor(random() * ids.length)], version));
          }
          while (batch.length < n) batch.push(makeDoc(random, `d${nextId++}`, version));
          const after = new Map(state);
          for (const d of batch) after.set(d.id, d);
          pending = { before: state, after, resolved: false, what: `add of ${batch.map((d) => d.id).join(' ')}` };
          // Kill at a time after the call, at the 'store' stage (the batch's write), or at the
          // 'index' stage (an HNSW rebuild and snapshot save, after the write).
          const how = random();
          if (how < 0.35) delay = random() * 1.1 * typical('add', 600);
          else if (how < 0.75) { triggerStage = 'store'; delay = random() * 1.2 * typical('store', 30); } else { triggerStage = 'index'; delay = random() * 2 * typical('store', 30); }
          call = { kind: 'add', batch };
          tally.add++;
        } else if (op === 'remove') {
          const ids = [...state.keys()].filter(() => random() < 0.35);
          if (ids.length === 0) ids.push([...state.keys()][0]);
          const after = new Map(state);
          for (const id of ids) after.delete(id);
          pending = { before: state, after, resolved: false, what: `remove of ${ids.join(' ')}` };
          delay = random() * 1.2 * typical('remove', 20);
          call = { kind: 'remove', ids };
          tally.remove++;
        } else {
          pendingImport = { before: imported, after: exportFile.state, resolved: false };
          delay = random() * 1.2 * typical('import', 200);
          call = { kind: 'import', base64: exportFile.base64 };
          tally.import++;
        }

        let killed;
        const killDone = new Promise((resolve) => { killed = resolve; });
        let armed = false;
        const arm = (why) => {
          if (armed) return;
          armed = true;
          if (why) tally[why]++;
          setTimeout(async () => {
            if (await killGroup(proc)) tally.groupOutlivedBrowser++;
            killed();
          }, delay);
        };
        const started = Date.now();
        let storeAt = null;
        page.on('console', (m) => {
          const text = m.text();
          if (text === 'stage:store') storeAt = Date.now();
          if (text === `stage:${triggerStage}`) arm(triggerStage === 'store' ? 'killsAtStore' : 'killsAtIndexRebuild');
          if (text === 'resolved') {
            for (const p of [pending, pendingImport]) if (p) p.resolved = true;
            tally.resolvedBeforeKill++;
            durations[call.kind].push(Date.now() - started);
            if (storeAt !== null) durations.store.push(Date.now() - storeAt);
            arm();
          }
        });
        if (!triggerStage) arm();
        const run = page.evaluate(async ({ call, OPTIONS }) => {
          if (call.kind === 'add') {
            await rag.add(call.batch, { onProgress: (e) => { if (e.loaded === 0) console.log('stage:' + e.stage); } });
          } else if (call.kind === 'remove') {
            await rag.remove(call.ids);
          } else {
            const bytes = Uint8Array.from(atob(call.base64), (c) => c.charCodeAt(0));
            await (await LocalRag.import('crash-import', bytes, { ...OPTIONS, overwrite: true })).close();
          }
          console.log('resolved');
        }, { call, OPTIONS }).catch(() => {});
        await killDone;
        await run;
        await browser.close().catch(() => {});
      }
    } finally {
      if (proc) await killGroup(proc);
      server.close();
      rmSync(profile, { recursive: true, force: true });
    }
    const line = `${entry}: ${KILLS} kills (seed ${SEED}): ${JSON.stringify(tally)}`;
    t.diagnostic(line);
    console.log(`crash ${line}`);
  });
}

// The case behind the open finding of the crash runs, made on purpose: the profile's IndexedDB
// files damaged on disk while Chromium is down. Chromium finds the database corrupt, deletes it
// and starts it empty; `open` must say E_LOST (not open an empty knowledge base), keep saying
// it, and an import of an export taken before restores everything.
for (const entry of ['index.js', 'worker.js']) {
  test(`${entry}: an IndexedDB that Chromium finds damaged and deletes is reported lost, and an export restores it`, { timeout: 600_000 }, async (t) => {
    const server = await startServer('www', PORT);
    const profile = mkdtempSync(join(tmpdir(), 'localrag-damage-'));
    let proc;
    const session = async (fn, arg) => {
      let ws;
      ({ proc, ws } = await launchOnProfile(profile));
      const browser = await chromium.connectOverCDP(ws);
      const context = browser.contexts()[0];
      const page = context.pages()[0] ?? await context.newPage();
      await page.goto(`${server.url}__blank__`);
      await page.evaluate(PAGE_HELPERS);
      try {
        return await page.evaluate(fn, arg);
      } finally {
        await browser.close().catch(() => {});
        await killGroup(proc);
      }
    };
    try {
      const random = rng(7);
      const docs = [0, 1, 2, 3, 4].map((i) => makeDoc(random, `k${i}`, 1));
      const made = await session(async ({ entry, OPTIONS, docs }) => {
        const rag = await openKb(entry, 'kept', OPTIONS);
        await rag.add(docs);
        const bytes = await rag.export();
        await rag.close();
        let s = '';
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
      }, { entry, OPTIONS, docs });
      // Damage what LevelDB keeps the records in (its write-ahead log and tables).
      const dir = join(profile, 'Default', 'IndexedDB');
      const leveldb = readdirSync(dir).find((f) => f.endsWith('.indexeddb.leveldb'));
      assert.ok(leveldb, `no LevelDB database in ${readdirSync(dir).join(' ')}`);
      const damaged = [];
      for (const f of readdirSync(join(dir, leveldb))) {
        if (!/\.(log|ldb)$/.test(f)) continue;
        const path = join(dir, leveldb, f);
        const size = statSync(path).size;
        if (size < 64) continue;
        const fd = openSync(path, 'r+');
        for (let at = 7; at < size - 16; at += 4096) writeSync(fd, Buffer.alloc(8, 0xa5), 0, 8, at);
        closeSync(fd);
        damaged.push(`${f} (${size} bytes)`);
      }
      assert.ok(damaged.length, 'damaged some files');
      const after = await session(async ({ entry, OPTIONS, file }) => {
        const tries = [];
        let message = '';
        for (let i = 0; i < 2; i++) {
          tries.push(await openKb(entry, 'kept', OPTIONS).then(async (r) => {
            const n = (await r.list()).length;
            await r.close();
            return `opened with ${n} documents`;
          }, (e) => { message = e.message; return e.code; }));
        }
        const bytes = Uint8Array.from(atob(file), (c) => c.charCodeAt(0));
        const restored = await LocalRag.import('kept', bytes, { ...OPTIONS, overwrite: true });
        const d = await describeKb(restored, 0.5);
        await restored.close();
        return { tries, message, restored: d };
      }, { entry, OPTIONS, file: made });
      assert.match(proc.log, /corrupt/i, `Chromium's log says it found the database corrupt (damaged ${damaged.join(', ')})`);
      t.diagnostic(`damaged ${damaged.join(', ')}; Chromium: ${proc.log.split('\n').filter((l) => /corrupt/i.test(l)).map((l) => l.replace(/^\[[^\]]*\]\s*/, '')).join(' | ')}`);
      assert.deepEqual(after.tries, ['E_LOST', 'E_LOST'], `damaged ${damaged.join(', ')}; Chromium's log:\n${proc.log.slice(-3000)}`);
      assert.match(after.message, /stored data is gone/);
      assert.deepEqual(after.restored.problems, []);
      assert.ok(sameDocs(after.restored.docs, new Map(docs.map((d) => [d.id, d]))), 'the export restored every document');
      // And it opens normally from then on.
      const reopened = await session(async ({ entry, OPTIONS }) => {
        const r = await openKb(entry, 'kept', OPTIONS);
        const n = (await r.list()).length;
        await r.close();
        return n;
      }, { entry, OPTIONS });
      assert.equal(reopened, docs.length);
    } finally {
      if (proc) await killGroup(proc);
      server.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
}
