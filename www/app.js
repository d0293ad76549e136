// The demo: load the embedder from this page's own origin, embed what the user typed, show the
// cosine-similarity matrix. Text is always inserted with textContent, never as HTML.
import init, { Embedder } from './pkg/localrag.js';

const $ = (id) => document.getElementById(id);
const MODEL = new URL('./models/all-MiniLM-L6-v2/', location.href).href;
let embedder = null;

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
  setStatus(`Ready: ${embedder.dim}-dimensional vectors, loaded in ${Math.round(performance.now() - t0)} ms.`);
  $('compare').disabled = false;
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
await load(requested);
document.body.dataset.state = 'ready';
