//! WebGPU or the CPU. `'auto'` takes WebGPU only for a hardware adapter: Chromium offers a
//! software fallback (SwiftShader) on machines without a usable GPU, which runs the models far
//! slower than the CPU backend, so it counts as no GPU; `'webgpu'` still forces it.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::device::{
    BackendChoice, BackendKind, CpuBackend, gpu_device_async, is_software_adapter,
};
use crate::error::{Error, Result};

/// What the browser offers.
enum Offer {
    Hardware,
    /// A software adapter, described.
    Software(String),
    /// No adapter, and why.
    None(&'static str),
}

fn prop(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

async fn offer() -> Offer {
    let gpu = prop(&prop(&js_sys::global(), "navigator"), "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Offer::None("this browser has no WebGPU (navigator.gpu)");
    }
    let Some(promise) = prop(&gpu, "requestAdapter")
        .dyn_into::<Function>()
        .ok()
        .and_then(|f| f.call0(&gpu).ok())
    else {
        return Offer::None("navigator.gpu.requestAdapter failed");
    };
    let adapter = match JsFuture::from(Promise::from(promise)).await {
        Ok(a) if !a.is_null() && !a.is_undefined() => a,
        _ => return Offer::None("the browser gives no WebGPU adapter"),
    };
    // `isFallbackAdapter` moved from the adapter to its `info` in the spec; read both.
    let info = prop(&adapter, "info");
    let fallback = prop(&adapter, "isFallbackAdapter").is_truthy()
        || prop(&info, "isFallbackAdapter").is_truthy();
    let description: Vec<String> = ["vendor", "architecture", "description"]
        .iter()
        .filter_map(|k| prop(&info, k).as_string())
        .filter(|s| !s.is_empty())
        .collect();
    let description = description.join(" ");
    if is_software_adapter(fallback, false, &description) {
        Offer::Software(if description.is_empty() {
            "a fallback adapter".into()
        } else {
            description
        })
    } else {
        Offer::Hardware
    }
}

/// Whether the browser gives a WebGPU adapter at all (software or not).
pub async fn webgpu_available() -> bool {
    !matches!(offer().await, Offer::None(_))
}

/// A device and, when `'auto'` passed WebGPU over, why.
pub(crate) struct Chosen {
    pub device: burn::tensor::Device,
    pub kind: BackendKind,
    pub note: Option<String>,
}

/// Picks the device for a backend choice.
pub(crate) async fn choose_device(choice: BackendChoice, cpu: CpuBackend) -> Result<Chosen> {
    let on_cpu = |note: Option<String>| Chosen {
        device: cpu.device(),
        kind: BackendKind::Cpu,
        note,
    };
    let on_gpu = |device| Chosen {
        device,
        kind: BackendKind::Gpu,
        note: None,
    };
    match choice {
        BackendChoice::Cpu => Ok(on_cpu(None)),
        BackendChoice::Webgpu => match offer().await {
            Offer::None(why) => Err(Error::Backend(format!("WebGPU was requested but {why}"))),
            _ => Ok(on_gpu(gpu_device_async().await?)),
        },
        BackendChoice::Auto if !cfg!(feature = "gpu") => Ok(on_cpu(Some(
            "cpu: this is the threaded module, which runs on the CPU only".into(),
        ))),
        BackendChoice::Auto => match offer().await {
            Offer::Hardware => match gpu_device_async().await {
                Ok(device) => Ok(on_gpu(device)),
                Err(e) => Ok(on_cpu(Some(format!(
                    "cpu: 'auto' chose the CPU because the WebGPU device failed ({})",
                    e.message()
                )))),
            },
            Offer::Software(what) => Ok(on_cpu(Some(format!(
                "cpu: 'auto' chose the CPU because the WebGPU adapter ({what}) is a software fallback, slower than the CPU backend; pass backend: 'webgpu' to use it anyway"
            )))),
            Offer::None(why) => Ok(on_cpu(Some(format!(
                "cpu: 'auto' chose the CPU because {why}"
            )))),
        },
    }
}
