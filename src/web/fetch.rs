//! Fetching model files from the page's origin (or, when allowed, another one).

use js_sys::{ArrayBuffer, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{Error, Result};

fn global_prop(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn page_href() -> Result<String> {
    Reflect::get(&global_prop("location"), &"href".into())
        .ok()
        .and_then(|v| v.as_string())
        .ok_or_else(|| Error::Fetch("no page location to resolve model URLs against".into()))
}

/// Resolves `url` against the page's location; returns `(absolute, same_origin)`.
pub fn resolve_url(url: &str) -> Result<(String, bool)> {
    let href = page_href()?;
    let page =
        web_sys::Url::new(&href).map_err(|_| Error::Fetch(format!("bad page URL {href}")))?;
    let abs = web_sys::Url::new_with_base(url, &href)
        .map_err(|_| Error::Input(format!("`{url}` is not a valid URL")))?;
    Ok((abs.href(), abs.origin() == page.origin()))
}

/// `base` + `file`, with exactly one `/` between.
pub fn join_url(base: &str, file: &str) -> Result<String> {
    if base.is_empty() {
        return Err(Error::Input("option `baseUrl` is empty".into()));
    }
    Ok(format!("{}/{}", base.trim_end_matches('/'), file))
}

/// GETs a URL and returns the body, or `None` for 404 when `missing_ok`.
async fn get(
    url: &str,
    what: &str,
    cross_origin: bool,
    missing_ok: bool,
) -> Result<Option<Vec<u8>>> {
    let (abs, same_origin) = resolve_url(url)?;
    if !same_origin && !cross_origin {
        return Err(Error::Fetch(format!(
            "{what}: {abs} is not on this page's origin; model files must come from the page's own origin (set allowCrossOrigin to override)"
        )));
    }
    let fetch = global_prop("fetch")
        .dyn_into::<js_sys::Function>()
        .map_err(|_| Error::Fetch("this environment has no fetch()".into()))?;
    let promise = fetch
        .call1(&JsValue::UNDEFINED, &JsValue::from_str(&abs))
        .map_err(|e| Error::Fetch(format!("{what}: fetch({abs}) failed: {e:?}")))?;
    let response: web_sys::Response = JsFuture::from(Promise::from(promise))
        .await
        .map_err(|e| {
            Error::Fetch(format!(
                "{what}: network error fetching {abs}: {}",
                describe(&e)
            ))
        })?
        .dyn_into()
        .map_err(|_| Error::Fetch(format!("{what}: fetch({abs}) gave no Response")))?;
    if missing_ok && response.status() == 404 {
        return Ok(None);
    }
    if !response.ok() {
        return Err(Error::Fetch(format!(
            "{what}: {abs} answered HTTP {} {}",
            response.status(),
            response.status_text()
        )));
    }
    let body = response
        .array_buffer()
        .map_err(|e| Error::Fetch(format!("{what}: reading {abs}: {}", describe(&e))))?;
    let buffer = JsFuture::from(body).await.map_err(|e| {
        Error::Fetch(format!(
            "{what}: download of {abs} broke off: {}",
            describe(&e)
        ))
    })?;
    Ok(Some(Uint8Array::new(&buffer).to_vec()))
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Fetches a URL (same origin unless `cross_origin`).
pub async fn fetch_bytes(url: &str, cross_origin: bool) -> Result<Vec<u8>> {
    Ok(get(url, url, cross_origin, false)
        .await?
        .unwrap_or_default())
}

/// The bytes of a `ModelSource`: a URL string, an `ArrayBuffer` or a `Uint8Array`.
pub async fn source_bytes(key: &str, value: &JsValue, cross_origin: bool) -> Result<Vec<u8>> {
    if let Some(url) = value.as_string() {
        return Ok(get(&url, key, cross_origin, false)
            .await?
            .unwrap_or_default());
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(bytes.to_vec());
    }
    if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    Err(Error::Input(format!(
        "option `{key}` must be a URL string, an ArrayBuffer or a Uint8Array"
    )))
}

/// Like [`source_bytes`] for a URL, but a 404 means "this optional file is absent".
pub async fn optional_source_bytes(
    key: &str,
    url: &JsValue,
    cross_origin: bool,
) -> Result<Option<Vec<u8>>> {
    match url.as_string() {
        Some(u) => get(&u, key, cross_origin, true).await,
        None => source_bytes(key, url, cross_origin).await.map(Some),
    }
}
