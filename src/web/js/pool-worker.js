// A thread of the threaded module's pool (threads.js starts it): instantiates the module it is
// sent on the shared memory it is sent, says so, then runs one of rayon's threads for as long as
// the module lives (src/web/threads.rs).
self.addEventListener(
  'message',
  async ({ data }) => {
    if (data?.type !== 'localrag-pool-init') return;
    let mod;
    try {
      // Literal specifiers, so bundlers see both modules.
      mod = data.relaxed ? await import('./threads/relaxed/localrag.js') : await import('./threads/localrag.js');
      await mod.default({ module_or_path: data.module, memory: data.memory });
    } catch (e) {
      self.postMessage({ type: 'localrag-pool-error', message: String(e?.message ?? e) });
      return;
    }
    self.postMessage({ type: 'localrag-pool-ready' });
    mod.threadPoolWorker();
  },
  { once: true },
);
