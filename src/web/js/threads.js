// The threaded module's pool: `count` Web Workers (pool-worker.js), each instantiating the
// module the calling thread loaded on its shared memory, then lending its thread to rayon
// (src/web/threads.rs). The Workers must be running and waiting before the pool is built: the
// build waits, synchronously, for every thread to begin, and a browser does not start a Worker
// while the thread that created it is busy.

// Kept so that no engine collects a Worker that only shared memory refers to.
const pools = [];

function startWorker(index, init) {
  const worker = new Worker(new URL('./pool-worker.js', import.meta.url), {
    type: 'module',
    name: `localrag-pool-${index}`,
  });
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data?.type === 'localrag-pool-ready') resolve(worker);
      else if (data?.type === 'localrag-pool-error') reject(new Error(data.message));
    };
    worker.onerror = (e) => {
      e.preventDefault?.();
      reject(new Error(e.message || 'a pool Worker could not load'));
    };
    worker.postMessage(init);
  }).catch((e) => {
    worker.terminate();
    throw e;
  });
}

/** Starts `count` threads for the loaded threaded module `mod` (`relaxed`: its SIMD variant). */
export async function startPool(mod, count, relaxed) {
  const [module, memory] = mod.threadPoolShared();
  const init = { type: 'localrag-pool-init', module, memory, relaxed };
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startWorker(i, init)));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    for (const s of started) if (s.status === 'fulfilled') s.value.terminate();
    throw failed.reason;
  }
  pools.push(started.map((s) => s.value));
  mod.threadPoolStart(count);
}
