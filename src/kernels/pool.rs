//! Whole computations handed to the thread pool ([`on_pool`]), and what happens when a thread
//! of the pool panics.
//!
//! A forward pass runs on one of rayon's threads: the products inside it then split their
//! work among the pool's threads, which steal it while they are awake, instead of each product
//! being handed over from outside the pool and the caller woken after it.
//!
//! The caller waits here rather than in rayon, so that a panic on a pool thread reaches it. In
//! the threaded wasm module a panic aborts its thread (no unwinding): rayon's own wait would
//! never end, and the page would wait forever. There the panic hook (`web/mod.rs`) calls
//! [`pool_thread_panicked`], which fails every pending hand-over, and the caller panics in turn
//! on its own thread, where the page's `E_BROKEN` path sees it. Natively the panic unwinds and
//! is caught at the hand-over: the caller panics with the same message.

/// Runs `f` on one of rayon's threads and waits for it (with threads; in the single-threaded
/// module, or on a pool thread already, it just runs `f`). `f` must not touch JavaScript
/// objects: in the browser it runs in a pool Worker.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(parallel)]
    {
        if rayon::current_thread_index().is_none() {
            return handed_over::run(f);
        }
    }
    f()
}

/// Called by the panic hook: when the panicking thread is one of the pool's, every caller
/// waiting in [`on_pool`] panics with `message` instead of waiting forever.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn pool_thread_panicked(message: &str) {
    #[cfg(parallel)]
    {
        if rayon::current_thread_index().is_some() {
            handed_over::fail_all(message);
        }
    }
    #[cfg(not(parallel))]
    let _ = message;
}

#[cfg(parallel)]
mod handed_over {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use wasm_sync::{Condvar, Mutex};

    #[derive(Default)]
    struct State {
        done: bool,
        panic: Option<String>,
    }

    /// Set by the panic hook of a pool thread (wasm, where that thread aborts): every waiting
    /// and later hand-over fails. An atomic and a message set once, as the hook must not wait
    /// for a lock a caller may hold.
    static POOL_THREAD_PANICKED: AtomicBool = AtomicBool::new(false);
    static PANIC_MESSAGE: OnceLock<String> = OnceLock::new();
    /// How often a waiting caller looks at [`POOL_THREAD_PANICKED`] besides being woken.
    const RECHECK: Duration = Duration::from_millis(20);

    #[derive(Default)]
    struct Slot {
        state: Mutex<State>,
        wake: Condvar,
    }

    impl Slot {
        fn finish(&self, panic: Option<String>) {
            if let Ok(mut s) = self.state.lock() {
                s.done = true;
                if s.panic.is_none() {
                    s.panic = panic;
                }
            }
            self.wake.notify_all();
        }
    }

    /// The hand-overs in progress (one per waiting caller).
    static PENDING: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());

    /// A pointer moved into the job; the caller keeps what it points to alive until the job has
    /// finished or failed.
    struct Ptr<T>(*mut T);
    unsafe impl<T: Send> Send for Ptr<T> {}

    fn pool_failure() -> Option<String> {
        POOL_THREAD_PANICKED
            .load(Ordering::SeqCst)
            .then(|| PANIC_MESSAGE.get().cloned().unwrap_or_default())
    }

    pub(super) fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        if let Some(message) = pool_failure() {
            panic!("a thread of the pool panicked earlier: {message}");
        }
        let slot = Arc::new(Slot::default());
        if let Ok(mut p) = PENDING.lock() {
            p.push(slot.clone());
        }
        let mut out: Option<R> = None;
        let out_ptr = Ptr(&mut out as *mut Option<R>);
        let done = slot.clone();
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
            let out_ptr = out_ptr;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            match result {
                Ok(value) => {
                    // SAFETY: the caller waits (below) until `done` is finished, and reads
                    // `out` only after that.
                    unsafe { *out_ptr.0 = Some(value) };
                    done.finish(None);
                }
                Err(e) => done.finish(Some(panic_message(&*e))),
            }
        });
        // SAFETY: the job borrows `f`'s captures and `out` from this frame, and this function
        // does not return before the job has finished: it waits for `done` (a job that panicked
        // has finished too). In wasm a panicking thread aborts and never touches them again;
        // this frame then panics (which aborts) rather than returning.
        let job: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(job) };
        rayon::spawn(job);
        let panic = {
            let mut s = match slot.state.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            loop {
                if s.done || s.panic.is_some() {
                    break s.panic.take();
                }
                if let Some(message) = pool_failure() {
                    break Some(message);
                }
                s = match slot.wake.wait_timeout(s, RECHECK) {
                    Ok((s, _)) => s,
                    Err(p) => p.into_inner().0,
                };
            }
        };
        if let Ok(mut p) = PENDING.lock() {
            p.retain(|s| !Arc::ptr_eq(s, &slot));
        }
        if let Some(message) = panic {
            panic!("a thread of the pool panicked: {message}");
        }
        out.expect("the job finished")
    }

    /// Fails every pending and later hand-over with `message` (the hook of a panicking pool
    /// thread). Takes no lock that a caller may hold: waiting callers look at the flag at least
    /// every [`RECHECK`], and are woken where the list of them is free.
    pub(super) fn fail_all(message: &str) {
        let _ = PANIC_MESSAGE.set(message.to_string());
        POOL_THREAD_PANICKED.store(true, Ordering::SeqCst);
        if let Ok(pending) = PENDING.try_lock() {
            for slot in pending.iter() {
                slot.wake.notify_all();
            }
        }
    }

    fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
        e.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_a_pool_thread_and_returns_the_result() {
        let data = vec![1u64, 2, 3];
        let (sum, on_pool_thread) = on_pool(|| {
            (
                data.iter().sum::<u64>(),
                rayon::current_thread_index().is_some(),
            )
        });
        assert_eq!(sum, 6);
        assert!(on_pool_thread);
    }

    #[test]
    fn a_panic_on_the_pool_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| on_pool(|| -> u32 { panic!("boom in a task") }));
        let e = caught.expect_err("the caller panics");
        let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            msg.contains("a thread of the pool panicked") && msg.contains("boom in a task"),
            "{msg}"
        );
        // The pool still works afterwards.
        assert_eq!(on_pool(|| 7), 7);
    }
}
