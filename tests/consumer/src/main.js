// The two entry points of the package, exposed for the test (which drives them through
// page.evaluate), and a tiny UI: search a knowledge base on the main thread.
import { LocalRag as MainRag, LocalRagError } from 'localrag';
import { LocalRag as WorkerRag } from 'localrag/worker';

window.localrag = { MainRag, WorkerRag, LocalRagError, instances: {} };

const params = new URLSearchParams(location.search);
const status = document.getElementById('status');
const form = document.getElementById('search');
const button = form.querySelector('button');
const hits = document.getElementById('hits');
let rag = null;

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  button.disabled = true;
  status.value = 'searching';
  hits.replaceChildren();
  try {
    rag ??= await MainRag.open(params.get('kb') ?? 'consumer-ui', {
      embedder: '/models/all-MiniLM-L6-v2/',
      backend: params.get('backend') ?? 'auto',
      onProgress: (p) => { status.value = `${p.stage} ${p.loaded}/${p.total}`; },
    });
    for (const hit of await rag.search(document.getElementById('query').value, { k: 3 })) {
      const li = document.createElement('li');
      li.textContent = `${hit.title || hit.docId}: ${hit.text}`;
      hits.append(li);
    }
    status.value = 'done';
  } catch (err) {
    status.value = `${err.name} ${err.code ?? ''}: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});

button.disabled = false;
status.value = 'ready';
document.body.dataset.state = 'ready';
