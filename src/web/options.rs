//! JavaScript objects as option sources (the rules live on the Rust types, see
//! `crate::options`), and the hooks a call brings: `onProgress`, `onToken` and an `AbortSignal`.

use js_sys::{Array, Function, Object, Promise, Reflect};
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::device::OpenDeviceOptions;
use crate::error::{Error, Result};
use crate::hooks::{Hooks, Progress};
use crate::kb::{ImportOptions, KnowledgeBaseOptions};
use crate::options::{Options, Source, bad_option};

/// The hook keys: callbacks and the signal, which the wasm side takes as they are.
pub(crate) const HOOK_KEYS: [&str; 3] = ["onProgress", "onToken", "signal"];

fn get(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() {
        Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// An options argument: `undefined`, `null` or a plain object.
pub(crate) struct JsSource(JsValue);

impl JsSource {
    pub fn new(options: &JsValue, what: &str) -> Result<Self> {
        if absent(options) {
            return Ok(JsSource(Object::new().into()));
        }
        if !options.is_object() || Array::is_array(options) {
            return Err(Error::Input(format!("{what} options must be an object")));
        }
        // `null` and `undefined` mean "not given" (serde would refuse them for a number).
        let keys = Object::keys(options.unchecked_ref::<Object>());
        let given = |k: &JsValue| Reflect::get(options, k).ok().filter(|v| !absent(v));
        if keys.iter().any(|k| given(&k).is_none()) {
            let copy = Object::new();
            for k in keys.iter() {
                if let Some(v) = given(&k) {
                    let _ = Reflect::set(&copy, &k, &v);
                }
            }
            return Ok(JsSource(copy.into()));
        }
        Ok(JsSource(options.clone()))
    }
}

impl Source for JsSource {
    fn keys(&self) -> Result<Vec<String>> {
        Ok(Object::keys(self.0.unchecked_ref::<Object>())
            .iter()
            .filter_map(|k| k.as_string())
            .collect())
    }

    fn read<T: DeserializeOwned>(&self) -> Result<T> {
        serde_path_to_error::deserialize(serde_wasm_bindgen::Deserializer::from(self.0.clone()))
            .map_err(|e| {
                let message = e.inner().to_string();
                bad_option(&e.path().to_string(), message.trim_start_matches("Error: "))
            })
    }
}

/// Reads and checks options `T` of call `what`; the hook keys are allowed besides its own.
pub(crate) fn read<T: Options>(options: &JsValue, what: &str) -> Result<T> {
    T::read_from(&JsSource::new(options, what)?, what, &HOOK_KEYS)
}

/// Reads a value that must be a string, refusing lone surrogates (they cannot be stored as
/// UTF-8 without changing the text, and offsets would no longer match the caller's string).
pub(crate) fn text_of(v: &JsValue, what: &str) -> Result<String> {
    let Some(s) = v.dyn_ref::<js_sys::JsString>() else {
        return Err(Error::Input(format!("{what} must be a string")));
    };
    if !s.is_valid_utf16() {
        let units: Vec<u16> = s.iter().collect();
        let at = char::decode_utf16(units.iter().copied())
            .scan(0usize, |pos, r| {
                let here = *pos;
                *pos += r.as_ref().map_or(1, |c| c.len_utf16());
                Some((here, r.is_err()))
            })
            .find(|(_, bad)| *bad)
            .map_or(0, |(p, _)| p);
        return Err(Error::Input(format!(
            "{what} holds a lone UTF-16 surrogate at index {at}; fix or remove it before adding"
        )));
    }
    Ok(String::from(s))
}

/// Strings of a JS array (E_INPUT naming `what` otherwise).
pub(crate) fn strings(value: &JsValue, what: &str) -> Result<Vec<String>> {
    if !Array::is_array(value) {
        return Err(Error::Input(format!("{what} takes an array of strings")));
    }
    Array::from(value)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if v.as_string().is_none() {
                return Err(Error::Input(format!("{what}: element {i} is not a string")));
            }
            // Lone surrogates are refused, as in documents, rather than replaced.
            text_of(&v, &format!("{what}: element {i}"))
        })
        .collect()
}

/// The options of `LocalRag.open`/`import` that the wasm side reads: the knowledge base's
/// (`T`) and the devices'.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct WithDevices<T: Default> {
    #[serde(skip_deserializing)]
    kb: T,
    #[serde(skip_deserializing)]
    devices: OpenDeviceOptions,
}

impl<T: Options + Default> Options for WithDevices<T> {
    fn keys() -> Vec<&'static str> {
        [T::keys(), OpenDeviceOptions::keys()].concat()
    }

    fn read_parts(&mut self, source: &impl Source) -> Result<()> {
        self.kb = T::read_part(source)?;
        self.devices = OpenDeviceOptions::read_part(source)?;
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        self.kb.validate()
    }
}

pub(crate) fn check_open(options: &JsValue, import: bool, js_keys: &[String]) -> Result<()> {
    let extra: Vec<&str> = js_keys.iter().map(String::as_str).collect();
    if import {
        let source = JsSource::new(options, "import")?;
        WithDevices::<ImportOptions>::read_from(&source, "import", &extra).map(drop)
    } else {
        let source = JsSource::new(options, "open")?;
        WithDevices::<KnowledgeBaseOptions>::read_from(&source, "open", &extra).map(drop)
    }
}

/// The hooks of one call.
pub(crate) struct JsHooks {
    on_progress: Option<Function>,
    on_token: Option<Function>,
    signal: Option<JsValue>,
}

fn callback(options: &JsValue, key: &str) -> Result<Option<Function>> {
    let v = get(options, key);
    if absent(&v) {
        return Ok(None);
    }
    v.dyn_into::<Function>()
        .map(Some)
        .map_err(|_| Error::Input(format!("{key} must be a function")))
}

impl JsHooks {
    /// The hooks in an options object (each checked: a function, an `AbortSignal`).
    pub fn from_options(options: &JsValue) -> Result<Self> {
        let signal = get(options, "signal");
        let signal = if absent(&signal) {
            None
        } else if signal.is_object()
            && Reflect::get(&signal, &"aborted".into()).is_ok_and(|a| a.as_bool().is_some())
        {
            Some(signal)
        } else {
            return Err(Error::Input("signal must be an AbortSignal".into()));
        };
        Ok(JsHooks {
            on_progress: callback(options, "onProgress")?,
            on_token: callback(options, "onToken")?,
            signal,
        })
    }

    /// E_ABORTED when the signal has fired.
    pub fn check(&self) -> Result<()> {
        if self.cancelled() {
            Err(Error::aborted())
        } else {
            Ok(())
        }
    }
}

impl Hooks for JsHooks {
    fn progress(&mut self, progress: Progress) -> Result<()> {
        if let Some(f) = &self.on_progress
            && let Ok(p) = super::to_js(&progress)
        {
            let _ = f.call1(&JsValue::NULL, &p);
        }
        self.check()
    }

    fn token(&mut self, delta: &str) {
        if let Some(f) = &self.on_token {
            let _ = f.call1(&JsValue::NULL, &JsValue::from_str(delta));
        }
    }

    fn cancelled(&self) -> bool {
        self.signal
            .as_ref()
            .and_then(|s| Reflect::get(s, &"aborted".into()).ok())
            .is_some_and(|a| a.is_truthy())
    }

    async fn pause(&mut self) {
        yield_to_event_loop().await;
    }

    fn now_ms(&self) -> f64 {
        now_ms()
    }

    /// The Worker entry point gives its forwarding `onProgress` a `settled` function: a promise
    /// that resolves once the page has run the callbacks forwarded so far (worker-entry.js).
    async fn settle(&mut self) {
        let Some(f) = &self.on_progress else { return };
        let Some(settled) = Reflect::get(f, &"settled".into())
            .ok()
            .and_then(|s| s.dyn_into::<Function>().ok())
        else {
            return;
        };
        if let Ok(p) = settled.call0(f).and_then(|p| p.dyn_into::<Promise>()) {
            let _ = JsFuture::from(p).await;
        }
    }
}

/// Milliseconds on `performance.now()` (the date's clock where there is none).
pub(crate) fn now_ms() -> f64 {
    let perf = Reflect::get(&js_sys::global(), &"performance".into()).unwrap_or(JsValue::UNDEFINED);
    Reflect::get(&perf, &"now".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .and_then(|f| f.call0(&perf).ok())
        .and_then(|v| v.as_f64())
        .unwrap_or_else(js_sys::Date::now)
}

/// Resolves after a macrotask, so that the page (or Worker) can run events between steps,
/// including the `abort` of a signal.
pub(crate) async fn yield_to_event_loop() {
    sleep(0).await
}

/// Resolves after `ms` milliseconds (the page's or the Worker's `setTimeout`; at once where
/// there is none).
pub(crate) async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        match Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
        {
            Some(f) => {
                let _ = f.call2(&global, &resolve, &JsValue::from(ms));
            }
            None => {
                let _ = resolve.call0(&JsValue::NULL);
            }
        }
    });
    let _ = JsFuture::from(promise).await;
}
