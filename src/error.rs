//! One error type for the whole crate. Every variant has a stable code that the JS layer
//! exposes as `error.code`, so callers can branch on it without parsing messages. The list of
//! codes ([`Error::CODES`]) is the one source of the codes JavaScript and TypeScript know
//! (`src/web/js/codes.js` and the `ErrorCode` type are generated from it).

/// Generates the enum, its codes and the list of codes from one table.
macro_rules! errors {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, )*) => {
        /// What went wrong, in words a user of the package can act on.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        pub enum Error {
            $( $(#[$doc])* #[error("{code}: {0}", code = $code)] $variant(String), )*
        }

        impl Error {
            /// Every code, in the order of the README's table.
            pub const CODES: &'static [&'static str] = &[$($code),*];

            /// Stable, machine-readable code, also listed in the README.
            pub fn code(&self) -> &'static str {
                match self { $( Error::$variant(_) => $code, )* }
            }

            /// The message without the code.
            pub fn message(&self) -> &str {
                match self { $( Error::$variant(m) => m, )* }
            }
        }
    };
}

errors! {
    /// Input from the caller was not acceptable.
    Input => "E_INPUT",
    /// A model file could not be fetched.
    Fetch => "E_MODEL_FETCH",
    /// Model weights could not be read or do not fit the configuration.
    ModelFormat => "E_MODEL_FORMAT",
    /// A configuration file (config.json, pooling config, options) is missing a field or wrong.
    Config => "E_CONFIG",
    /// tokenizer.json could not be read, or does not fit the model.
    Tokenizer => "E_TOKENIZER",
    /// The compute backend could not be set up or failed while running.
    Backend => "E_BACKEND",
    /// A model output failed its numerical check (NaN, infinity, wrong norm).
    Output => "E_OUTPUT",
    /// The storage (IndexedDB) failed; the batch was not written.
    Storage => "E_STORAGE",
    /// The browser's storage quota is exhausted; the batch was not written.
    Quota => "E_QUOTA",
    /// A knowledge base was opened with a different embedding model than it was built with.
    ModelMismatch => "E_MODEL_MISMATCH",
    /// A knowledge base was opened with an embedder of a different vector dimension.
    DimMismatch => "E_DIM_MISMATCH",
    /// Stored data could not be decoded (damaged or written by an incompatible version).
    Corrupt => "E_CORRUPT",
    /// A knowledge base's stored data is gone, deleted by something else than `destroy` (the
    /// browser, finding its database damaged after a crash).
    Lost => "E_LOST",
    /// The object was closed or destroyed.
    Closed => "E_CLOSED",
    /// The caller cancelled the operation (an `AbortSignal`).
    Aborted => "E_ABORTED",
    /// `ask` was called on a knowledge base without a generator.
    NoGenerator => "E_NO_GENERATOR",
    /// An internal failure (a panic, a trap, a dead Worker): the module's state is unknown.
    Broken => "E_BROKEN",
    /// Something this environment or this build cannot do.
    Unsupported => "E_UNSUPPORTED",
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error of a cancelled operation.
    pub fn aborted() -> Error {
        Error::Aborted("the operation was aborted".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_displayed() {
        let mut codes = Error::CODES.to_vec();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Error::CODES.len());
        let e = Error::Quota("full".into());
        assert_eq!(e.to_string(), "E_QUOTA: full");
        assert_eq!((e.code(), e.message()), ("E_QUOTA", "full"));
        assert!(Error::CODES.contains(&Error::aborted().code()));
    }
}
