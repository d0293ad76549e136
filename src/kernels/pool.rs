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

/// [`on_pool`] for an async caller. On a thread that may not block (a page's main thread: the
/// browser layer says so, [`set_caller_may_block`]) it returns to the event loop while the pool
/// works and is woken when the work is done, instead of spinning on a core the pool needs.
/// Elsewhere it is [`on_pool`]. Dropping the future before the work is done waits for it.
pub async fn on_pool_async<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(parallel)]
    {
        if rayon::current_thread_index().is_none()
            && !CALLER_MAY_BLOCK.load(std::sync::atomic::Ordering::Relaxed)
        {
            return handed_over::run_async(f).await;
        }
    }
    on_pool(f)
}

#[cfg(parallel)]
static CALLER_MAY_BLOCK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether the thread that calls into the pool may block while it waits (the browser layer:
/// not on a page's main thread). Natively it always may.
#[cfg_attr(
    not(all(target_arch = "wasm32", feature = "threads")),
    allow(dead_code)
)]
pub fn set_caller_may_block(may: bool) {
    #[cfg(parallel)]
    CALLER_MAY_BLOCK.store(may, std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(parallel))]
    let _ = may;
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
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};
    use std::task::{Context, Poll, Waker};
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
        /// An async caller's waker ([`run_async`]).
        waker: Mutex<Option<Waker>>,
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
            self.wake_async();
        }

        fn wake_async(&self) {
            let waker = match self.waker.lock() {
                Ok(mut w) => w.take(),
                Err(p) => p.into_inner().take(),
            };
            if let Some(w) = waker {
                w.wake();
            }
        }

        /// The outcome once the job has finished or the pool has failed: `Some(panic)`.
        fn outcome(&self) -> Option<Option<String>> {
            let mut s = match self.state.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            if s.done || s.panic.is_some() {
                return Some(s.panic.take());
            }
            pool_failure().map(Some)
        }

        /// Blocks (spins where blocking is not allowed) until [`Slot::outcome`] has one.
        fn wait(&self) -> Option<String> {
            loop {
                if let Some(outcome) = self.outcome() {
                    return outcome;
                }
                let s = match self.state.lock() {
                    Ok(s) => s,
                    Err(p) => p.into_inner(),
                };
                if s.done || s.panic.is_some() {
                    continue;
                }
                let _ = self.wake.wait_timeout(s, RECHECK);
            }
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

    /// Hands `f` to the pool. `out` receives its result; the caller must not let `out` or
    /// what `f` borrows go before `slot` has an outcome (it waits for it, or panics, which
    /// aborts in wasm where a pool thread can fail this way).
    fn spawn<R: Send>(f: impl FnOnce() -> R + Send, out: *mut Option<R>) -> Arc<Slot> {
        if let Some(message) = pool_failure() {
            panic!("a thread of the pool panicked earlier: {message}");
        }
        let slot = Arc::new(Slot::default());
        if let Ok(mut p) = PENDING.lock() {
            p.push(slot.clone());
        }
        let out_ptr = Ptr(out);
        let done = slot.clone();
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
            let out_ptr = out_ptr;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| warm(f)));
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
        slot
    }

    /// After the outcome: the slot leaves the pending list; a failure panics here.
    fn settle(slot: &Arc<Slot>, panic: Option<String>) {
        if let Ok(mut p) = PENDING.lock() {
            p.retain(|s| !Arc::ptr_eq(s, slot));
        }
        if let Some(message) = panic {
            panic!("a thread of the pool panicked: {message}");
        }
    }

    pub(super) fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        let mut out: Option<R> = None;
        let slot = spawn(f, &mut out);
        let panic = slot.wait();
        settle(&slot, panic);
        out.expect("the job finished")
    }

    /// Waits for a slot's outcome as a future; dropped early, it waits for it synchronously.
    struct Outcome {
        slot: Arc<Slot>,
        finished: bool,
    }

    impl Future for Outcome {
        type Output = Option<String>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
            // The waker first, then the state: a job that finishes in between finds the waker.
            match self.slot.waker.lock() {
                Ok(mut w) => *w = Some(cx.waker().clone()),
                Err(p) => *p.into_inner() = Some(cx.waker().clone()),
            }
            match self.slot.outcome() {
                Some(outcome) => {
                    self.finished = true;
                    Poll::Ready(outcome)
                }
                None => Poll::Pending,
            }
        }
    }

    impl Drop for Outcome {
        fn drop(&mut self) {
            if !self.finished {
                // What the job borrows must outlive it.
                let _ = self.slot.wait();
            }
        }
    }

    pub(super) async fn run_async<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        // Boxed, so that its address stays put whatever happens to this future.
        let mut out: Box<Option<R>> = Box::new(None);
        let slot = spawn(f, &mut *out);
        let panic = Outcome {
            slot: slot.clone(),
            finished: false,
        }
        .await;
        settle(&slot, panic);
        out.take().expect("the job finished")
    }

    /// Runs `f` (on a pool thread) while the pool's other threads stay awake: each takes a
    /// task that looks for work ([`rayon::yield_now`]) until `f` returns, instead of going to
    /// sleep between two parallel steps. rayon's threads sleep after a few idle rounds, and in
    /// the browser a Worker woken by `Atomics.notify` starts late: between the short products
    /// of one 128-token pass that latency cost all the second thread's gain (1.0× at batch 1 in
    /// the browser bench, against 2.0× at batch 32 where each step is longer).
    fn warm<R>(f: impl FnOnce() -> R) -> R {
        let threads = rayon::current_num_threads();
        if threads < 2 {
            return f();
        }
        let owner = rayon::current_thread_index();
        let done = AtomicBool::new(false);
        /// Ends the helpers' loops however `f` ends (natively a panic unwinds through here).
        struct Done<'a>(&'a AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let helper = || {
            // Taken back by the owner while it waits inside `f`: nothing to keep awake.
            if rayon::current_thread_index() == owner {
                return;
            }
            while !done.load(Ordering::Acquire) {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::hint::spin_loop();
                }
            }
        };
        rayon::in_place_scope(|s| {
            for _ in 1..threads {
                s.spawn(|_| helper());
            }
            let _done = Done(&done);
            f()
        })
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
                slot.wake_async();
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
    fn the_async_hand_over_returns_the_result_and_reports_a_panic() {
        let data = vec![1u64, 2, 3];
        let sum = pollster::block_on(handed_over::run_async(|| data.iter().sum::<u64>()));
        assert_eq!(sum, 6);
        let caught = std::panic::catch_unwind(|| {
            pollster::block_on(handed_over::run_async(|| -> u32 { panic!("boom async") }))
        });
        let msg = caught
            .expect_err("the caller panics")
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(msg.contains("boom async"), "{msg}");
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
