//! How a long operation talks to whoever runs it: progress, streamed text, cancellation, and a
//! pause in which the host can do other work (the browser's event loop). The core calls these;
//! each front end implements them once (the browser layer with JS callbacks and an
//! `AbortSignal`, the CLI with nothing at all: `()`).

use serde::Serialize;
use ts_rs::TS;

use crate::error::Result;

/// A stage of `add`: chunking, embedding, the store's write, and (when thresholds say so)
/// rebuilding the HNSW graph after the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(rename = "AddStage")]
pub enum Stage {
    Chunk,
    Embed,
    Store,
    Index,
}

/// Progress of `add`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
pub struct Progress {
    pub stage: Stage,
    /// Steps done (documents chunked, chunks embedded, …).
    pub loaded: usize,
    pub total: usize,
}

impl Progress {
    pub fn new(stage: Stage, loaded: usize, total: usize) -> Self {
        Progress {
            stage,
            loaded,
            total,
        }
    }
}

/// What a host may do while the core works. Every method has a default that does nothing.
#[allow(async_fn_in_trait)]
pub trait Hooks {
    /// Progress of a long operation. An error (for instance `E_ABORTED`) stops it where that is
    /// still safe: `add` stops only before its write.
    fn progress(&mut self, _progress: Progress) -> Result<()> {
        Ok(())
    }

    /// A piece of generated text (never half a character).
    fn token(&mut self, _delta: &str) {}

    /// Whether the caller gave up; checked between steps.
    fn cancelled(&self) -> bool {
        false
    }

    /// Gives the host a turn between steps.
    async fn pause(&mut self) {}

    /// Waits until the caller has seen every progress report so far, so that an abort it made
    /// from one of them is visible to [`Hooks::cancelled`]. `add` waits here before its write:
    /// through `localrag/worker` a report reaches the page as a message and the page's abort
    /// comes back as another, which could otherwise arrive after the commit.
    async fn settle(&mut self) {}

    /// Milliseconds on the host's clock, for timings.
    fn now_ms(&self) -> f64 {
        clock_ms()
    }
}

/// No hooks: nothing reported, never cancelled.
impl Hooks for () {}

/// Milliseconds since the first call (natively); wasm32 has no clock of its own, so the
/// browser layer supplies `performance.now()` through [`Hooks::now_ms`].
fn clock_ms() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
    }
    #[cfg(target_arch = "wasm32")]
    {
        0.0
    }
}
