// The demo: documents the user adds go into a knowledge base in IndexedDB; questions are
// answered by a small LLM from the retrieved passages, streamed, with citations. A second panel
// shows the cosine-similarity matrix of typed sentences. Models come from this page's own origin.
// Text is always inserted with textContent, never as HTML.
import init, { Embedder, Generator, KnowledgeBase } from './pkg/localrag.js';

const $ = (id) => document.getElementById(id);
const MODEL = new URL('./models/all-MiniLM-L6-v2/', location.href).href;
const GENERATOR = new URL('./models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', location.href).href;
const KB_NAME = new URLSearchParams(location.search).get('kb') ?? 'localrag-demo';
let embedder = null;
let kb = null;
let generator = null;
let asking = null;

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

async function load(backend) {
  $('compare').disabled = true;
  setStatus(`Loading the model (${backend})…`);
  if (embedder) { embedder.free(); embedder = null; }
  const t0 = performance.now();
  try {
    embedder = await Embedder.load({ baseUrl: MODEL, backend });
  } catch (e) {
    setStatus(`Could not load the model: ${e.message} (${e.code ?? 'error'})`, true);
    $('backend').textContent = 'none';
    return;
  }
  $('backend').textContent = embedder.backend;
  $('backend').title = embedder.adapter ?? 'Burn CPU backend (WebAssembly)';
  try {
    if (kb) await kb.close();
    kb = await KnowledgeBase.open(KB_NAME, embedder);
    if (generator) kb.setGenerator(generator);
  } catch (e) {
    setStatus(`Could not open the knowledge base: ${e.message} (${e.code ?? 'error'})`, true);
    return;
  }
  await refreshDocs();
  setStatus(`Ready: ${embedder.dim}-dimensional vectors, loaded in ${Math.round(performance.now() - t0)} ms.`);
  $('compare').disabled = false;
  $('add').disabled = false;
  $('ask').disabled = false;
}

async function refreshDocs() {
  const docs = await kb.list();
  const items = docs.map((d) => {
    const li = document.createElement('li');
    li.dataset.id = d.id;
    li.textContent = `${d.title || d.id} — ${d.chunks} chunk${d.chunks === 1 ? '' : 's'}`;
    const remove = document.createElement('button');
    remove.className = 'secondary';
    remove.textContent = 'Remove';
    remove.dataset.testid = 'remove';
    remove.addEventListener('click', async () => {
      remove.disabled = true;
      try { await kb.remove([d.id]); } catch (e) { setStatus(`Remove failed: ${e.message}`, true); }
      await refreshDocs();
    });
    li.appendChild(remove);
    return li;
  });
  $('docs').replaceChildren(...items);
  document.body.dataset.docs = String(docs.length);
  const stats = await kb.stats();
  $('storage').textContent = `${stats.documents} documents, ${stats.chunks} chunks` +
    (stats.storage ? `; this site uses ${(stats.storage.usage / 1e6).toFixed(1)} MB of storage` : '');
}

async function addDocs(docs) {
  $('add').disabled = true;
  const bar = $('add-progress');
  bar.hidden = false;
  try {
    const report = await kb.add(docs, {
      onProgress: (p) => { bar.max = Math.max(p.total, 1); bar.value = p.done; bar.title = p.stage; },
    });
    setStatus(`Added ${report.added}, updated ${report.updated}, unchanged ${report.unchanged} (${report.chunks} chunks).`);
    await refreshDocs();
  } catch (e) {
    setStatus(`Adding failed: ${e.message} (${e.code ?? 'error'})`, true);
  } finally {
    bar.hidden = true;
    $('add').disabled = false;
  }
}

async function addTyped() {
  const text = $('doc-text').value;
  if (!text.trim()) { setStatus('Type or paste some text first.', true); return; }
  const title = $('doc-title').value.trim();
  await addDocs([{ title: title || text.trim().slice(0, 40), text }]);
  $('doc-text').value = '';
  $('doc-title').value = '';
}

async function fileText(file) {
  const raw = await file.text();
  if (/\.html?$/i.test(file.name) || file.type === 'text/html') {
    // Parsed as an inert document (no scripts run, nothing loads); only its text is kept.
    return new DOMParser().parseFromString(raw, 'text/html').body?.textContent ?? '';
  }
  return raw;
}

async function addFiles(files) {
  const docs = [];
  for (const f of files) {
    const text = await fileText(f);
    if (text.trim()) docs.push({ id: f.name, title: f.name, source: f.name, text });
  }
  if (docs.length) await addDocs(docs);
  $('files').value = '';
}

async function ensureGenerator() {
  if (generator) return generator;
  const backend = $('backend-choice').value;
  $('gen-status').textContent = 'loading…';
  const t0 = performance.now();
  generator = await Generator.load({ model: GENERATOR, backend });
  kb.setGenerator(generator);
  $('gen-status').textContent = `${generator.backend}, loaded in ${Math.round(performance.now() - t0)} ms`;
  return generator;
}

function renderCitations(result) {
  const cited = new Set(result.citations.map((c) => c.n));
  // Cited passages first, then the other passages the model was given.
  const shown = [...result.citations, ...result.passages.filter((p) => !cited.has(p.n))];
  const items = shown.map((c) => {
    const li = document.createElement('li');
    li.value = c.n;
    li.dataset.n = String(c.n);
    li.dataset.cited = String(cited.has(c.n));
    li.textContent = `${c.title || c.docId}${cited.has(c.n) ? '' : ' (given, not cited)'} `;
    const toggle = document.createElement('button');
    toggle.className = 'secondary';
    toggle.textContent = 'Show passage';
    const passage = document.createElement('div');
    passage.className = 'passage';
    passage.textContent = c.text;
    passage.hidden = true;
    toggle.addEventListener('click', () => {
      passage.hidden = !passage.hidden;
      toggle.textContent = passage.hidden ? 'Show passage' : 'Hide passage';
    });
    li.append(toggle, passage);
    return li;
  });
  $('citations').replaceChildren(...items);
}

async function ask() {
  const question = $('question').value.trim();
  if (!question) { setStatus('Type a question first.', true); return; }
  document.body.dataset.ask = 'running';
  $('ask').disabled = true;
  $('answer').textContent = '';
  $('answer-meta').textContent = '';
  $('citations').replaceChildren();
  asking = new AbortController();
  $('stop').disabled = false;
  try {
    setStatus('Loading the answering model…');
    await ensureGenerator();
    setStatus('Answering…');
    const result = await kb.ask(question, {
      signal: asking.signal,
      maxTokens: 160,
      onToken: (delta) => { $('answer').textContent += delta; },
    });
    $('answer').textContent = result.answer;
    renderCitations(result);
    const t = result.timings;
    $('answer-meta').textContent = result.finishReason === null
      ? 'No passage was relevant enough; the model was not run.'
      : `${result.usage.promptTokens} prompt tokens, ${result.usage.completionTokens} generated` +
        (t ? ` in ${((t.prefillMs + t.decodeMs) / 1000).toFixed(1)} s` : '') +
        (result.invalidCitations.length ? `; ignored citations to missing passages: ${result.invalidCitations.join(', ')}` : '');
    setStatus('Done.');
  } catch (e) {
    setStatus(e.code === 'E_ABORTED' ? 'Stopped.' : `Asking failed: ${e.message} (${e.code ?? 'error'})`, e.code !== 'E_ABORTED');
    if (!generator) $('gen-status').textContent = 'failed to load';
  } finally {
    asking = null;
    $('stop').disabled = true;
    $('ask').disabled = false;
    document.body.dataset.ask = 'done';
  }
}

function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

function renderMatrix(texts, vectors) {
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  head.appendChild(document.createElement('th'));
  texts.forEach((_, j) => {
    const th = document.createElement('th');
    th.textContent = String(j + 1);
    head.appendChild(th);
  });
  const body = table.createTBody();
  texts.forEach((text, i) => {
    const row = body.insertRow();
    const th = document.createElement('th');
    th.className = 'text';
    th.textContent = `${i + 1}. ${text}`;
    th.title = text;
    row.appendChild(th);
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
  if (texts.length === 0) { setStatus('Type at least one sentence.', true); return; }
  $('compare').disabled = true;
  setStatus('Embedding…');
  try {
    const t0 = performance.now();
    const vectors = await embedder.embed(texts);
    const ms = performance.now() - t0;
    renderMatrix(texts, vectors);
    $('timing').textContent = `${texts.length} sentences embedded on ${embedder.backend} in ${Math.round(ms)} ms.`;
    setStatus('Done.');
    document.body.dataset.state = 'done';
  } catch (e) {
    setStatus(`Embedding failed: ${e.message} (${e.code ?? 'error'})`, true);
  } finally {
    $('compare').disabled = false;
  }
}

await init();
const requested = new URLSearchParams(location.search).get('backend') ?? 'auto';
$('backend-choice').value = requested;
$('backend-choice').addEventListener('change', (e) => load(e.target.value));
$('compare').addEventListener('click', compare);
$('add').addEventListener('click', addTyped);
$('files').addEventListener('change', (e) => addFiles([...e.target.files]));
$('ask').addEventListener('click', ask);
$('question').addEventListener('keydown', (e) => { if (e.key === 'Enter') ask(); });
$('stop').addEventListener('click', () => asking?.abort());
await load(requested);
document.body.dataset.state = 'ready';
