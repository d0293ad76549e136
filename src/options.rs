//! Options as callers pass them: one flat object (a JavaScript object, a JSON object) whose keys
//! may belong to several structs (`ask` takes the search options, the sampling options and its
//! own in one object). Reading one refuses keys that no part knows, fills every part from the
//! same object, and runs the range checks, so each rule is written once, on the Rust type.

use serde::de::DeserializeOwned;
use serde_aux::serde_introspection::serde_introspect;

use crate::error::{Error, Result};

/// A flat object that options can be read from.
pub trait Source {
    /// Its keys (in JavaScript: the own enumerable ones).
    fn keys(&self) -> Result<Vec<String>>;
    /// Reads a struct from it (each struct takes the keys it knows).
    fn read<T: DeserializeOwned>(&self) -> Result<T>;
}

/// An options struct, possibly with parts read from the same object.
pub trait Options: DeserializeOwned {
    /// Every key it takes: its own and its parts'.
    fn keys() -> Vec<&'static str> {
        serde_introspect::<Self>().to_vec()
    }

    /// Fills the parts that are read from the same object (none by default).
    fn read_parts(&mut self, _source: &impl Source) -> Result<()> {
        Ok(())
    }

    /// Checks the values (ranges that need no model).
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Reads and checks the options of call `what`. Keys in `extra` belong to the caller (a
    /// callback, an `AbortSignal`, a model file the JavaScript side fetches) and are allowed.
    fn read_from(source: &impl Source, what: &str, extra: &[&str]) -> Result<Self> {
        let known = Self::keys();
        for key in source.keys()? {
            if !known.contains(&key.as_str()) && !extra.contains(&key.as_str()) {
                let mut all: Vec<&str> = known.iter().chain(extra).copied().collect();
                all.sort_unstable();
                return Err(Error::Input(format!(
                    "unknown {what} option `{key}` (known: {})",
                    all.join(", ")
                )));
            }
        }
        let value = Self::read_part(source)?;
        value.validate()?;
        Ok(value)
    }

    /// The TypeScript names of the parts (the type is their intersection with its own fields).
    fn parts(_cfg: &ts_rs::Config) -> Vec<String> {
        Vec::new()
    }

    /// Reads it as a part of a larger options object: no key check and no validation, since
    /// the whole is checked once.
    fn read_part(source: &impl Source) -> Result<Self> {
        let mut value: Self = source.read()?;
        value.read_parts(source)?;
        Ok(value)
    }
}

/// Implements [`Options`] for a struct some of whose fields (the parts, skipped by serde and
/// ts-rs) are options structs read from the same object: its keys are its own and the parts',
/// and its TypeScript type is its own fields intersected with the parts' types.
macro_rules! composite_options {
    ($ty:ty { $($field:ident: $part:ty),+ $(,)? } $(, validate: $validate:expr)?) => {
        impl $crate::options::Options for $ty {
            fn keys() -> Vec<&'static str> {
                let mut keys = serde_aux::serde_introspection::serde_introspect::<Self>().to_vec();
                $(keys.extend(<$part as $crate::options::Options>::keys());)+
                keys
            }

            fn read_parts(&mut self, source: &impl $crate::options::Source) -> $crate::error::Result<()> {
                $(self.$field = <$part as $crate::options::Options>::read_part(source)?;)+
                Ok(())
            }

            $(fn validate(&self) -> $crate::error::Result<()> {
                $validate(self)
            })?

            fn parts(cfg: &ts_rs::Config) -> Vec<String> {
                vec![$(<$part as ts_rs::TS>::name(cfg)),+]
            }
        }
    };
}
pub(crate) use composite_options;

/// The error of an option that does not deserialize: `path` names it (`k`, `filter.docIds`).
pub fn bad_option(path: &str, why: &str) -> Error {
    if path.is_empty() || path == "." {
        Error::Input(format!("bad options: {why}"))
    } else {
        Error::Input(format!("option `{path}`: {why}"))
    }
}

/// A JSON object as a source (the CLI's and the tests' way to give options).
impl Source for serde_json::Value {
    fn keys(&self) -> Result<Vec<String>> {
        match self {
            serde_json::Value::Object(m) => Ok(m.keys().cloned().collect()),
            serde_json::Value::Null => Ok(Vec::new()),
            _ => Err(Error::Input("options must be an object".into())),
        }
    }

    fn read<T: DeserializeOwned>(&self) -> Result<T> {
        let value = match self {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            v => v.clone(),
        };
        serde_path_to_error::deserialize(value)
            .map_err(|e| bad_option(&e.path().to_string(), &e.inner().to_string()))
    }
}
