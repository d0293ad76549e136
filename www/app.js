// The demo of localrag's public API. Documents the user adds go into a knowledge base in
// IndexedDB; Search lists the best passages; Ask has a small LLM answer from them, streamed,
// with its citations. A last panel shows the cosine-similarity matrix of typed sentences.
//
// Address parameters: embedder=english|multilingual (default english), backend=auto|webgpu|cpu
// (the embedder, default auto), genBackend=… (the answering model, default cpu), kb=<name>
// (default localrag-demo, or localrag-demo-multilingual: a knowledge base keeps one embedder),
// worker=0 (run on the page's thread instead of in a Worker). Models come from this page's own
// origin. Text from documents is only ever inserted with textContent, never as HTML.

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const useWorker = params.get('worker') !== '0';
const backend = params.get('backend') || 'auto';
const generatorBackend = params.get('genBackend') || 'cpu';
// The embedders the page offers: English-only and fast, or multilingual (Chinese, Japanese,
// Spanish, … and queries in another language than the documents). Sizes: what is downloaded.
const EMBEDDERS = {
  english: {
    name: 'all-MiniLM-L6-v2 (Q8_0)',
    url: './models/all-MiniLM-L6-v2-Q8_0.gguf',
    size: '25 MB',
    kb: 'localrag-demo',
  },
  multilingual: {
    name: 'multilingual-e5-small (Q4_0)',
    url: './models/multilingual-e5-small/',
    size: '77 MB',
    kb: 'localrag-demo-multilingual',
  },
};
const embedderChoice = EMBEDDERS[params.get('embedder')] ? params.get('embedder') : 'english';
const EMBEDDER_INFO = EMBEDDERS[embedderChoice];
const kbName = params.get('kb') || EMBEDDER_INFO.kb;
const EMBEDDER = new URL(EMBEDDER_INFO.url, location.href).href;
const GENERATOR = new URL('./models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', location.href).href;

// The Worker build keeps the page responsive while models load and answers are generated; both
// builds have the same API.
let LocalRag = null;
let rag = null;
let asking = null;

// ---------------------------------------------------------------- helpers

const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else e[k] = v;
  }
  e.append(...children);
  return e;
};

const errorText = (e) => `${e?.message ?? e} (${e?.code ?? e?.name ?? 'error'})`;

function setStatus(text, error = null) {
  $('status').textContent = text;
  $('status').classList.toggle('error', !!error);
  if (error?.code) $('status').dataset.code = error.code;
  else delete $('status').dataset.code;
}

function showError(what, e) {
  setStatus(`${what}: ${errorText(e)}`, e ?? {});
  if (e?.code === 'E_BROKEN' || rag?.broken) {
    $('status').textContent += ' — reload the page to start again.';
  }
}

const MB = (bytes) => (bytes / 1e6).toFixed(1);

function formatBytes(bytes) {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${MB(bytes)} MB`;
  return `${Math.round(bytes / 1e3)} kB`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// ---------------------------------------------------------------- opening

const STAGES = {
  'load-embedder': 'Building the embedder',
  'load-generator': 'Building the answering model',
  open: 'Opening the knowledge base',
};
const loadRows = new Map();
const downloads = new Map(); // file → { bytes, cached }

function loadRow(key, label) {
  let row = loadRows.get(key);
  if (!row) {
    const bar = el('progress', { max: 1, value: 0 });
    const name = el('span', { className: 'name', text: label });
    const amount = el('span', { className: 'amount' });
    const li = el('li', {}, name, bar, amount);
    $('load-progress').append(li);
    row = { li, bar, amount };
    loadRows.set(key, row);
  }
  return row;
}

function onOpenProgress(p) {
  if (p.stage === 'download') {
    const file = p.file ?? '';
    const short = file.startsWith(location.origin) ? new URL(file).pathname.split('/').slice(-2).join('/') : file;
    const row = loadRow(`file:${file}`, short);
    row.li.dataset.file = file;
    if (p.cached) {
      row.bar.max = 1;
      row.bar.value = 1;
      row.amount.textContent = `cached${p.total ? `, ${formatBytes(p.total)}` : ''}`;
      row.li.dataset.cached = 'true';
    } else if (p.total > 0) {
      row.bar.max = p.total;
      row.bar.value = Math.min(p.loaded, p.total);
      row.amount.textContent = p.total >= 1e6 ? `${MB(p.loaded)} / ${MB(p.total)} MB`
        : `${Math.round(p.loaded / 1e3)} / ${Math.round(p.total / 1e3)} kB`;
    } else {
      row.bar.removeAttribute('value'); // unknown length: an indeterminate bar
      row.amount.textContent = `${MB(p.loaded)} MB`;
    }
    downloads.set(file, { bytes: p.cached ? p.total : p.loaded, cached: !!p.cached });
    row.li.dataset.done = String(!!p.cached || (p.total > 0 && p.loaded >= p.total));
  } else {
    const row = loadRow(`stage:${p.stage}`, STAGES[p.stage] ?? p.stage);
    row.li.dataset.stage = p.stage;
    row.bar.max = Math.max(p.total, 1);
    row.bar.value = p.total > 0 ? Math.min(p.loaded, p.total) : 0;
    row.amount.textContent = p.total > 0 ? `${p.loaded} / ${p.total}` : '';
    row.li.dataset.done = String(p.total > 0 && p.loaded >= p.total);
    setStatus(`${STAGES[p.stage] ?? p.stage}…`);
  }
}

function showSettings() {
  $('mode').textContent = useWorker ? 'a Worker' : "the page's thread";
  $('mode').dataset.worker = String(useWorker);
  $('kb-name').textContent = kbName;
  $('embedder-name').textContent = EMBEDDER_INFO.name;
  for (const [key, info] of Object.entries(EMBEDDERS)) {
    $('set-embedder').append(el('option', { value: key, text: `${key === 'english' ? 'English, fast' : 'Multilingual'}: ${info.name}, ${info.size}` }));
  }
  for (const [id, value] of [['set-embedder', embedderChoice], ['set-backend', backend],
    ['set-gen-backend', generatorBackend], ['set-worker', useWorker ? '1' : '0'],
    ['set-kb', params.get('kb') || '']]) $(id).value = value;
}

const openOptions = () => ({ embedder: EMBEDDER, generator: GENERATOR, backend, generatorBackend, onProgress: onOpenProgress });

async function open() {
  setStatus(`Loading the models (${backend}; answering model: ${generatorBackend})…`);
  const t0 = performance.now();
  try {
    rag = await LocalRag.open(kbName, openOptions());
  } catch (e) {
    $('backend').textContent = 'none';
    $('gen-backend').textContent = 'none';
    showError('Could not open', e);
    if (e?.code === 'E_MODEL_MISMATCH') {
      $('status').textContent += ` — this knowledge base was built with another embedder: pick another name under Settings, or open it with the embedder it was built with.`;
    }
    document.body.dataset.state = 'error';
    return;
  }
  // Fold the finished download list into one line.
  const all = [...downloads.values()];
  const fetched = all.filter((d) => !d.cached).reduce((s, d) => s + d.bytes, 0);
  const cached = all.filter((d) => d.cached);
  $('load-summary').textContent = `Models: ${formatBytes(fetched)} downloaded` +
    (cached.length ? `, ${plural(cached.length, 'file')} (${formatBytes(cached.reduce((s, d) => s + d.bytes, 0))}) from the cache` : '');
  $('load').open = false;
  $('backend').textContent = rag.backend;
  $('gen-backend').textContent = rag.generatorBackend ?? 'none';
  // Which build of the WebAssembly module runs the CPU work (relaxed SIMD where the browser has it).
  $('wasm').textContent = LocalRag.wasm ?? '…';
  watch();
  await refreshDocs();
  setStatus(`Ready: ${rag.dim}-dimensional vectors; opened in ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
  for (const id of CONTROLS) $(id).disabled = false;
  document.body.dataset.state = 'ready';
}

const CONTROLS = ['add', 'files', 'folder', 'search', 'ask', 'compare', 'export', 'import', 'delete-all'];

function watch() {
  rag.onChange((e) => {
    if (e.remote) $('docs-note').textContent = 'The documents were changed in another tab; the list is up to date.';
    refreshDocs();
  });
}

// ---------------------------------------------------------------- the knowledge base as a file

async function exportKb() {
  try {
    const bytes = await rag.export();
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const a = el('a', { href: url, download: `${kbName}.localrag` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    setStatus(`Exported ${formatBytes(bytes.length)} as ${kbName}.localrag.`);
  } catch (e) {
    showError('Export failed', e);
  }
}

// Replaces the knowledge base with an export file (the instance is reopened on it).
async function importKb(file) {
  $('import').value = '';
  for (const id of CONTROLS) $(id).disabled = true;
  try {
    await rag.close();
    try {
      rag = await LocalRag.import(kbName, file, { ...openOptions(), overwrite: true });
      setStatus(`Restored “${file.name}”.`);
    } catch (e) {
      rag = await LocalRag.open(kbName, openOptions());
      showError(`Could not restore “${file.name}”`, e);
    }
    watch();
    await refreshDocs();
  } finally {
    for (const id of CONTROLS) $(id).disabled = false;
  }
}

// Deletes the knowledge base and the cached models, then opens an empty one (the models are
// downloaded again). Two clicks: the first arms the button for five seconds.
let armed = null;
async function deleteAll() {
  const button = $('delete-all');
  if (!armed) {
    button.classList.add('armed');
    button.textContent = 'Click again to delete everything';
    armed = setTimeout(() => { armed = null; button.classList.remove('armed'); button.textContent = 'Delete everything'; }, 5000);
    return;
  }
  clearTimeout(armed);
  armed = null;
  button.classList.remove('armed');
  button.textContent = 'Delete everything';
  for (const id of CONTROLS) $(id).disabled = true;
  document.body.dataset.state = 'loading';
  try {
    await rag.destroy();
    await LocalRag.clearModelCache();
    downloads.clear();
    $('results').replaceChildren();
    $('answer').textContent = '';
    $('citations').replaceChildren();
  } catch (e) {
    showError('Delete failed', e);
  }
  await open();
  if (document.body.dataset.state === 'ready') setStatus('Everything was deleted; the knowledge base is empty.');
}

// ---------------------------------------------------------------- documents

// Re-lists the documents; calls made while one is running coalesce into one more run, so the
// list always ends up showing the latest state.
let listing = null;
let listAgain = false;
function refreshDocs() {
  if (listing) { listAgain = true; return listing; }
  listing = (async () => {
    try {
      do {
        listAgain = false;
        await renderDocs();
      } while (listAgain);
    } catch (e) {
      showError('Could not list the documents', e);
    } finally {
      listing = null;
    }
  })();
  return listing;
}

async function renderDocs() {
  const docs = await rag.list();
  const items = docs.map((d) => {
    const title = el('span', { className: 'title', text: d.title || d.id });
    const meta = el('span', {
      className: 'muted',
      text: ` — ${d.source && d.source !== d.title ? `${d.source}, ` : ''}${d.chars.toLocaleString('en')} characters, ${plural(d.chunks, 'chunk')}`,
    });
    const remove = el('button', { className: 'secondary small', text: 'Remove', type: 'button' });
    remove.dataset.testid = 'remove';
    remove.setAttribute('aria-label', `Remove ${d.title || d.id}`);
    remove.addEventListener('click', async () => {
      remove.disabled = true;
      try {
        await rag.remove([d.id]);
        setStatus(`Removed “${d.title || d.id}”.`);
      } catch (e) {
        showError('Remove failed', e);
        remove.disabled = false;
      }
      refreshDocs();
    });
    return el('li', { dataset: { id: d.id } }, title, meta, remove);
  });
  const stats = await rag.stats();
  $('docs').replaceChildren(...items);
  $('docs-empty').hidden = docs.length > 0;
  renderStats(stats);
  document.body.dataset.docs = String(docs.length);
}

function renderStats(s) {
  let text = `${plural(s.documents, 'document')}, ${plural(s.chunks, 'chunk')}`;
  if (s.storage) {
    text += `; this site uses ${formatBytes(s.storage.usage)} of ${formatBytes(s.storage.quota)}`;
    if (s.storage.persisted) text += ' (persistent)';
  }
  $('storage').textContent = text;
  $('storage').dataset.documents = String(s.documents);
  $('storage').dataset.chunks = String(s.chunks);
  if (s.storage) $('storage').dataset.usage = String(s.storage.usage);
}

async function addDocs(docs) {
  $('add').disabled = true;
  $('files').disabled = true;
  $('folder').disabled = true;
  const bar = $('add-progress');
  bar.value = 0;
  $('add-stage').textContent = 'Starting…';
  $('add-progress-row').hidden = false;
  setStatus(`Adding ${plural(docs.length, 'document')}…`);
  try {
    const report = await rag.add(docs, {
      onProgress: (p) => {
        bar.max = Math.max(p.total, 1);
        bar.value = Math.min(p.loaded, bar.max);
        $('add-stage').textContent = `${p.stage} ${p.loaded} / ${p.total}`;
      },
    });
    setStatus(`Added ${report.added}, updated ${report.updated}, unchanged ${report.unchanged} ` +
      `(${plural(report.chunks, 'chunk')}).`);
    await refreshDocs();
    return true;
  } catch (e) {
    showError('Adding failed', e);
    return false;
  } finally {
    $('add-progress-row').hidden = true;
    $('add').disabled = false;
    $('files').disabled = false;
    $('folder').disabled = false;
  }
}

async function addTyped() {
  const text = $('doc-text').value;
  if (!text.trim()) { setStatus('Type or paste some text first.', {}); return; }
  const title = $('doc-title').value.trim() || text.trim().slice(0, 40);
  if (await addDocs([{ title, source: 'typed', text }])) {
    $('doc-text').value = '';
    $('doc-title').value = '';
  }
}

// Asks for an encrypted PDF's password in the page (never sent anywhere): the password, or null
// when the user skips the file.
function askPassword(name, wrong) {
  const form = $('password-form');
  $('password-label').textContent = wrong ? `Wrong password for ${name}; try again:` : `${name} is encrypted. Its password:`;
  $('pdf-password').value = '';
  form.hidden = false;
  $('pdf-password').focus();
  return new Promise((resolve) => {
    const done = (value) => {
      form.hidden = true;
      form.onsubmit = null;
      $('skip-locked').onclick = null;
      resolve(value);
    };
    form.onsubmit = (ev) => { ev.preventDefault(); done($('pdf-password').value); };
    $('skip-locked').onclick = () => done(null);
  });
}

// Files through localrag/loaders (PDF, Word, HTML, Markdown, text), loaded when files first
// come: HTML goes through a parser (parse5), never into a DOM, so nothing of it runs or loads;
// a file that cannot be read is reported by name and code, and the others are still added.
async function addFiles(files) {
  const { loadFile } = await import('./pkg/loaders/index.js');
  const docs = [];
  const failed = [];
  const readable = /\.(pdf|docx|txt|md|markdown|html?)$/i;
  for (const [i, f] of files.entries()) {
    // In a folder, only the files the loaders read; the others are skipped without a word.
    if (f.webkitRelativePath && !readable.test(f.name)) continue;
    const id = f.webkitRelativePath || f.name;
    const reading = `reading ${id} (${i + 1} / ${files.length})`;
    $('add-progress-row').hidden = false;
    $('add-stage').textContent = reading;
    let password;
    for (;;) {
      try {
        docs.push(await loadFile(f, {
          id,
          password,
          onProgress: (p) => { $('add-stage').textContent = `${reading}: page ${p.loaded} / ${p.total}`; },
        }));
      } catch (e) {
        if (e.needsPassword) {
          password = await askPassword(f.name, password !== undefined);
          if (password !== null) continue;
        }
        failed.push({ text: `${f.name}: ${e.message} (${e.code ?? e.name})`, code: e.code });
      }
      break;
    }
  }
  $('files').value = '';
  $('folder').value = '';
  if (!docs.length) $('add-progress-row').hidden = true;
  if (docs.length) await addDocs(docs);
  if (failed.length) setStatus(`Not added: ${failed.map((x) => x.text).join('; ')}`, { code: failed[0].code });
  else if (!docs.length) setStatus('Those files hold no text.', {});
}

// ---------------------------------------------------------------- search

// Where a passage stands: its section and pages ("2 Configuration › 2.1 Network, p. 3").
function where(p) {
  const parts = [];
  if (p.headingPath?.length) parts.push(p.headingPath.join(' › '));
  if (p.pages) parts.push(p.pages[0] === p.pages[1] ? `p. ${p.pages[0]}` : `pp. ${p.pages[0]}–${p.pages[1]}`);
  return parts.join(', ');
}

function openButton(p) {
  const b = el('button', { type: 'button', className: 'secondary small', text: 'Open in the document' });
  b.dataset.testid = 'open-doc';
  b.addEventListener('click', () => showDocument(p));
  return b;
}

// The element that opened the document view, focused again when it closes.
let docViewOpener = null;

function closeDocument() {
  $('doc-view').hidden = true;
  if (docViewOpener?.isConnected) docViewOpener.focus();
  docViewOpener = null;
}

// The document view: the whole text, the passage marked and scrolled to, with its location.
async function showDocument(p) {
  docViewOpener = document.activeElement;
  try {
    const doc = await rag.get(p.docId);
    if (!doc) { setStatus('That document was removed.', {}); return; }
    const before = doc.text.slice(0, p.start);
    const mark = el('mark', { text: doc.text.slice(p.start, p.end) });
    mark.dataset.testid = 'doc-mark';
    $('doc-view-title').textContent = doc.title || doc.id;
    $('doc-view-where').textContent = where(p);
    $('doc-view-text').replaceChildren(before, mark, doc.text.slice(p.end));
    $('doc-view').hidden = false;
    $('doc-view').dataset.docId = doc.id;
    mark.scrollIntoView({ block: 'center' });
    $('doc-view-close').focus();
  } catch (e) {
    showError('Could not open the document', e);
  }
}

async function search() {
  const query = $('query').value.trim();
  if (!query) { setStatus('Type what to search for.', {}); return; }
  document.body.dataset.search = 'running';
  $('search').disabled = true;
  try {
    const t0 = performance.now();
    const hits = await rag.search(query, { k: 5 });
    const items = hits.map((h) => el('li', { dataset: { docId: h.docId, chunkId: String(h.chunkId) } },
      el('div', { className: 'hit-head' },
        el('span', { className: 'title', text: h.title || h.docId }),
        el('span', { className: 'where muted', text: where(h) }),
        el('span', { className: 'score', text: `score ${h.score.toFixed(3)}` })),
      el('blockquote', { className: 'passage', text: h.text }),
      openButton(h)));
    $('results').replaceChildren(...items);
    setStatus(hits.length
      ? `${plural(hits.length, 'passage')} found in ${Math.round(performance.now() - t0)} ms.`
      : 'Nothing found.');
  } catch (e) {
    showError('Search failed', e);
  } finally {
    $('search').disabled = false;
    document.body.dataset.search = 'done';
  }
}

// ---------------------------------------------------------------- ask

// Opens passage n in the list under the answer and brings it into view.
function revealPassage(n) {
  const li = $('citations').querySelector(`li[data-n="${n}"]`);
  if (!li) return;
  li.querySelector('details').open = true;
  li.scrollIntoView({ block: 'nearest' });
  li.querySelector('summary').focus();
}

// The answer sentence by sentence: what the model cited stays as it wrote it; a sentence it did
// not cite but a passage supports gets a link marked as inferred ("[≈2]"); a sentence no passage
// supports is marked (in words, not only by colour).
function renderAnswer(result) {
  const text = result.answer;
  if (!result.sentences?.length) { $('answer').textContent = text; return; }
  const parts = [];
  let at = 0;
  for (const s of result.sentences) {
    if (s.start > at) parts.push(text.slice(at, s.start));
    parts.push(el('span', {
      className: `sentence ${s.support}`,
      text: text.slice(s.start, s.end),
      dataset: { support: s.support, passages: s.passages.join(',') },
    }));
    if (s.support === 'inferred') {
      const n = s.passages[0];
      parts.push(' ', el('button', {
        type: 'button',
        className: 'inferred-link',
        text: `[≈${n}]`,
        title: `Not cited by the model: passage ${n} supports this sentence (inferred)`,
        ariaLabel: `inferred from passage ${n}`,
        dataset: { n: String(n) },
        onclick: () => revealPassage(n),
      }));
    } else if (s.support === 'unsupported') {
      parts.push(' ', el('span', { className: 'unsupported-mark', text: '(not in your documents)',
        title: 'No passage given to the model supports this sentence' }));
    }
    at = s.end;
  }
  if (at < text.length) parts.push(text.slice(at));
  $('answer').replaceChildren(...parts);
}

function renderCitations(result) {
  const cited = new Set(result.citations.map((c) => c.n));
  const inferred = new Set((result.sentences ?? [])
    .filter((s) => s.support === 'inferred').flatMap((s) => s.passages));
  // Cited passages first, then the other passages the model was given.
  const shown = [...result.citations, ...result.passages.filter((p) => !cited.has(p.n))];
  const items = shown.map((c) => {
    const isCited = cited.has(c.n);
    const how = isCited ? ' — cited' : inferred.has(c.n) ? ' — not cited, supports the answer (inferred)' : ' — given, not cited';
    const summary = el('summary', {},
      el('span', { className: 'n', text: `[${c.n}]` }), ' ',
      el('span', { className: 'title', text: c.title || c.docId }),
      el('span', { className: 'muted', text: how }));
    const passage = el('blockquote', { className: 'passage', text: c.text });
    const location = where(c);
    if (location) summary.append(el('span', { className: 'where muted', text: ` (${location})` }));
    return el('li', {
      value: c.n,
      dataset: { n: String(c.n), cited: String(isCited), inferred: String(!isCited && inferred.has(c.n)), docId: c.docId },
    }, el('details', {}, summary, passage, openButton(c)));
  });
  $('citations').replaceChildren(...items);
}

async function ask() {
  const question = $('question').value.trim();
  if (!question) { setStatus('Type a question first.', {}); return; }
  document.body.dataset.ask = 'running';
  delete document.body.dataset.askResult;
  $('ask').disabled = true;
  $('answer').textContent = '';
  $('answer-meta').textContent = '';
  $('citations').replaceChildren();
  asking = new AbortController();
  $('stop').disabled = false;
  setStatus('Answering…');
  try {
    const result = await rag.ask(question, {
      signal: asking.signal,
      maxTokens: 160,
      onToken: (delta) => { $('answer').append(delta); },
    });
    renderAnswer(result);
    renderCitations(result);
    const t = result.timings;
    $('answer-meta').textContent = result.finishReason === null
      ? 'No passage was relevant enough; the model was not run.'
      : `${result.usage.promptTokens} prompt tokens, ${result.usage.completionTokens} generated` +
        (t ? ` in ${((t.prefillMs + t.decodeMs) / 1000).toFixed(1)} s` : '') +
        (result.invalidCitations.length ? `; ignored citations of missing passages: ${result.invalidCitations.join(', ')}` : '');
    setStatus('Done.');
    document.body.dataset.askResult = 'answered';
  } catch (e) {
    if (e?.code === 'E_ABORTED') {
      setStatus('Stopped.');
      $('answer-meta').textContent = 'stopped';
      document.body.dataset.askResult = 'stopped';
    } else {
      showError('Asking failed', e);
      document.body.dataset.askResult = 'error';
    }
  } finally {
    asking = null;
    $('stop').disabled = true;
    $('ask').disabled = false;
    document.body.dataset.ask = 'done';
  }
}

// ---------------------------------------------------------------- compare sentences

function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

function renderMatrix(texts, vectors) {
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  head.appendChild(document.createElement('th'));
  texts.forEach((_, j) => head.appendChild(el('th', { text: String(j + 1) })));
  const body = table.createTBody();
  texts.forEach((text, i) => {
    const row = body.insertRow();
    row.appendChild(el('th', { className: 'text', text: `${i + 1}. ${text}`, title: text }));
    texts.forEach((_, j) => {
      const cell = row.insertCell();
      const s = cosine(vectors[i], vectors[j]);
      cell.textContent = s.toFixed(4);
      cell.dataset.i = i; cell.dataset.j = j; cell.dataset.value = String(s);
      cell.style.background = `rgba(47, 111, 222, ${Math.max(0, s) * 0.45})`;
    });
  });
  $('matrix').replaceChildren(table);
}

async function compare() {
  const texts = $('sentences').value.split('\n').map((s) => s.trim()).filter(Boolean);
  if (texts.length === 0) { setStatus('Type at least one sentence.', {}); return; }
  $('compare').disabled = true;
  setStatus('Embedding…');
  try {
    const t0 = performance.now();
    const vectors = await rag.embed(texts);
    const ms = performance.now() - t0;
    renderMatrix(texts, vectors);
    $('timing').textContent = `${plural(texts.length, 'sentence')} embedded on ${rag.backend} in ${Math.round(ms)} ms.`;
    setStatus('Done.');
    document.body.dataset.state = 'done';
  } catch (e) {
    showError('Embedding failed', e);
  } finally {
    $('compare').disabled = false;
  }
}

// ---------------------------------------------------------------- wiring

// body[data-add] is 'running' from the click until the form is cleared and the list shown.
const adding = (fn) => async (e) => {
  document.body.dataset.add = 'running';
  try { await fn(e); } finally { document.body.dataset.add = 'done'; }
};
$('add').addEventListener('click', adding(addTyped));
$('files').addEventListener('change', adding((e) => addFiles([...e.target.files])));
$('folder').addEventListener('change', adding((e) => addFiles([...e.target.files])));
// Files dropped anywhere on the documents section.
$('drop-zone').addEventListener('dragover', (e) => {
  if (!rag || $('files').disabled) return;
  e.preventDefault();
  $('drop-zone').classList.add('dropping');
});
$('drop-zone').addEventListener('dragleave', () => $('drop-zone').classList.remove('dropping'));
$('drop-zone').addEventListener('drop', (e) => {
  $('drop-zone').classList.remove('dropping');
  if (!rag || $('files').disabled || !e.dataTransfer?.files.length) return;
  e.preventDefault();
  adding(() => addFiles([...e.dataTransfer.files]))();
});
$('search-form').addEventListener('submit', (e) => { e.preventDefault(); search(); });
$('ask-form').addEventListener('submit', (e) => { e.preventDefault(); if (!asking) ask(); });
$('stop').addEventListener('click', () => asking?.abort());
$('compare').addEventListener('click', compare);
$('export').addEventListener('click', exportKb);
// Search as you type: a short pause after the last key.
let typing = null;
$('query').addEventListener('input', () => {
  clearTimeout(typing);
  if (!rag || $('query').value.trim().length < 3) return;
  typing = setTimeout(() => { if (!$('search').disabled) search(); }, 300);
});
$('doc-view-close').addEventListener('click', closeDocument);
$('doc-view').addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDocument(); });
$('import').addEventListener('change', (e) => { if (e.target.files[0]) importKb(e.target.files[0]); });
$('delete-all').addEventListener('click', deleteAll);
showSettings();
try {
  ({ LocalRag } = await import(useWorker ? './pkg/worker.js' : './pkg/index.js'));
} catch (e) {
  showError('Could not load localrag', e);
  document.body.dataset.state = 'error';
}
if (LocalRag) await open();
