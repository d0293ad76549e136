//! One error type for the whole crate. Every variant has a stable code that the JS layer
//! exposes as `error.code`, so callers can branch on it without parsing messages.

use std::fmt;

/// What went wrong, in words a user of the package can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Model weights could not be read or do not fit the configuration.
    ModelFormat(String),
    /// A configuration file (config.json, pooling config, options) is missing a field or wrong.
    Config(String),
    /// tokenizer.json could not be read, or does not fit the model.
    Tokenizer(String),
    /// Input from the caller was not acceptable.
    Input(String),
    /// The compute backend could not be set up or failed while running.
    Backend(String),
    /// A model output failed its numerical check (NaN, infinity, wrong norm).
    Output(String),
    /// A model file could not be fetched.
    Fetch(String),
    /// The storage (IndexedDB) failed; the batch was not written.
    Storage(String),
    /// The browser's storage quota is exhausted; the batch was not written.
    Quota(String),
    /// A knowledge base was opened with a different embedding model than it was built with.
    ModelMismatch(String),
    /// A knowledge base was opened with an embedder of a different vector dimension.
    DimMismatch(String),
    /// Stored data could not be decoded (damaged or written by an incompatible version).
    Corrupt(String),
    /// The object was closed or destroyed.
    Closed(String),
    /// The caller cancelled the operation (an `AbortSignal`).
    Aborted(String),
    /// `ask` was called on a knowledge base without a generator.
    NoGenerator(String),
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Stable, machine-readable code, also listed in the README.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ModelFormat(_) => "E_MODEL_FORMAT",
            Error::Config(_) => "E_CONFIG",
            Error::Tokenizer(_) => "E_TOKENIZER",
            Error::Input(_) => "E_INPUT",
            Error::Backend(_) => "E_BACKEND",
            Error::Output(_) => "E_OUTPUT",
            Error::Fetch(_) => "E_MODEL_FETCH",
            Error::Storage(_) => "E_STORAGE",
            Error::Quota(_) => "E_QUOTA",
            Error::ModelMismatch(_) => "E_MODEL_MISMATCH",
            Error::DimMismatch(_) => "E_DIM_MISMATCH",
            Error::Corrupt(_) => "E_CORRUPT",
            Error::Closed(_) => "E_CLOSED",
            Error::Aborted(_) => "E_ABORTED",
            Error::NoGenerator(_) => "E_NO_GENERATOR",
        }
    }

    /// The message without the code.
    pub fn message(&self) -> &str {
        match self {
            Error::ModelFormat(m)
            | Error::Config(m)
            | Error::Tokenizer(m)
            | Error::Input(m)
            | Error::Backend(m)
            | Error::Output(m)
            | Error::Fetch(m)
            | Error::Storage(m)
            | Error::Quota(m)
            | Error::ModelMismatch(m)
            | Error::DimMismatch(m)
            | Error::Corrupt(m)
            | Error::Closed(m)
            | Error::Aborted(m)
            | Error::NoGenerator(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for Error {}
