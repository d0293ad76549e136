//! The threaded module's rayon pool (feature `threads`; the module is built with atomics and
//! shared memory). Each of the pool's threads is a Web Worker that instantiates this same module
//! on the same memory (`js/pool-worker.js`) and then lends its thread to rayon for the life of
//! the module. Burn's CPU backend, the quantized products and the HNSW build then run on it.
//!
//! The order matters (`js/threads.js`): the Workers start and wait here, in
//! [`thread_pool_worker`], before the calling thread builds the pool, because building waits
//! for every rayon thread to begin, and a browser does not start a Worker while the thread that
//! created it is busy.

use std::sync::{Mutex, OnceLock, mpsc};

use rayon::ThreadBuilder;
use wasm_bindgen::prelude::*;

use crate::error::Error;

/// rayon's threads, handed from the pool's builder to the Workers that run them.
struct Handoff {
    send: mpsc::Sender<ThreadBuilder>,
    receive: Mutex<mpsc::Receiver<ThreadBuilder>>,
}

fn handoff() -> &'static Handoff {
    static HANDOFF: OnceLock<Handoff> = OnceLock::new();
    HANDOFF.get_or_init(|| {
        let (send, receive) = mpsc::channel();
        Handoff {
            send,
            receive: Mutex::new(receive),
        }
    })
}

/// What a pool Worker instantiates: `[module, memory]` (the compiled module and the shared
/// memory of this thread).
///
/// It also makes the hand-off channel here, on the calling thread, before any Worker starts:
/// a Worker that made it while this thread reached [`thread_pool_start`] made this thread
/// wait on the `OnceLock`, which on a page's main thread is `Atomics.wait`, refused there
/// ("RuntimeError: Atomics.wait cannot be called in this context", from `Once::call` under
/// `OnceLock::initialize` in `threadPoolStart`: once, in a browser-suite run of 2026-12-07).
#[wasm_bindgen(js_name = threadPoolShared)]
pub fn thread_pool_shared() -> js_sys::Array {
    handoff();
    js_sys::Array::of2(&wasm_bindgen::module(), &wasm_bindgen::memory())
}

/// Builds rayon's global pool of `threads` threads, whose Workers already wait in
/// [`thread_pool_worker`]. Returns when every thread has started.
#[wasm_bindgen(js_name = threadPoolStart)]
pub fn thread_pool_start(threads: usize) -> Result<(), JsValue> {
    // A page's main thread may not block: there async calls await the pool (and the rest spin).
    crate::kernels::pool::set_caller_may_block(web_sys::window().is_none());
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("localrag-{i}"))
        .spawn_handler(|thread| {
            handoff()
                .send
                .send(thread)
                .map_err(|_| std::io::Error::other("the pool's Workers are gone"))
        })
        .build_global()
        .map_err(|e| {
            super::to_js_error(&Error::Backend(format!(
                "could not start a pool of {threads} threads: {e}"
            )))
        })
}

/// Runs in a pool Worker once the module is instantiated there: waits for one of rayon's
/// threads and runs it. Never returns while the pool lives.
#[wasm_bindgen(js_name = threadPoolWorker)]
pub fn thread_pool_worker() {
    let thread = handoff()
        .receive
        .lock()
        .map_err(|_| ())
        .and_then(|r| r.recv().map_err(|_| ()));
    if let Ok(thread) = thread {
        thread.run();
    }
}
