//! Which compute device the models run on. Platform-free: the browser layer decides *when* to
//! ask for the GPU (after checking `navigator.gpu`), this module knows *how*, and which
//! adapters do not count as a GPU.

#[cfg(feature = "gpu")]
use std::sync::{Arc, OnceLock};

use burn::tensor::Device;
#[cfg(feature = "gpu")]
use burn::tensor::wgpu::wgpu;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
#[cfg(feature = "gpu")]
use crate::kernels::gpu::GpuContext;
use crate::options::Options;

/// The two kinds of device localrag runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Burn's wgpu backend: WebGPU in the browser, Vulkan/Metal/DX12 natively.
    Gpu,
    /// A Burn CPU backend.
    Cpu,
}

impl BackendKind {
    /// Name shown to users: `"webgpu"` in the browser, `"wgpu"` natively, or `"cpu"`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Gpu if cfg!(target_arch = "wasm32") => "webgpu",
            BackendKind::Gpu => "wgpu",
            BackendKind::Cpu => "cpu",
        }
    }
}

/// Which device runs a model. `'auto'` picks WebGPU when the browser gives a hardware adapter
/// (a software fallback such as SwiftShader counts as none) and the CPU otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    #[default]
    Auto,
    Webgpu,
    Cpu,
}

/// Burn's CPU backend of the fallback. `'flex'`, Burn's current pure-Rust backend, is the only
/// one built (Cargo.toml says why); the option stays so another can be added without a new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum CpuBackend {
    /// `burn-flex`.
    #[default]
    Flex,
}

/// The most threads `threads` may ask for.
pub const MAX_THREADS: u32 = 64;
/// `threads: 'auto'` takes one thread per logical core up to this many: past it the embedder's
/// and the generator's products gain little, and each thread is a Web Worker with its own stack.
pub const AUTO_THREADS_CAP: u32 = 8;

/// How many threads the CPU work may use in the browser (the threaded module's rayon pool).
/// `'auto'` (the default): where the page is cross-origin isolated and the models run on the
/// CPU, one per logical core, at most 8; otherwise the single-threaded module. A whole number
/// from 1 to 64: that many (1 loads the single-threaded module; more need cross-origin
/// isolation, without which the single-threaded module runs and `LocalRag.threads` says why).
/// The first `open` of a thread (page or Worker) decides; natively rayon's own pool is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, TS)]
#[ts(type = "number | 'auto'")]
pub enum Threads {
    #[default]
    Auto,
    Count(u32),
}

impl<'de> Deserialize<'de> for Threads {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Threads;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "'auto' or a whole number from 1 to {MAX_THREADS}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Threads, E> {
                match v {
                    "auto" => Ok(Threads::Auto),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Threads, E> {
                match u32::try_from(v) {
                    Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(Threads::Count(n)),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Threads, E> {
                match u64::try_from(v) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Threads, E> {
                if v.fract() == 0.0 && (1.0..=f64::from(MAX_THREADS)).contains(&v) {
                    Ok(Threads::Count(v as u32))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl CpuBackend {
    /// The device for this backend.
    pub fn device(self) -> Device {
        match self {
            CpuBackend::Flex => Device::flex(),
        }
    }
}

/// Where a model loader puts the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceOptions {
    /// Default `'auto'`.
    #[ts(as = "Option<_>", optional)]
    pub backend: BackendChoice,
    /// Which Burn CPU backend the CPU fallback uses (default and only value 'flex').
    #[ts(as = "Option<_>", optional)]
    pub cpu_backend: CpuBackend,
}

/// The device options of `LocalRag.open`: one choice for both models, or one for each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct OpenDeviceOptions {
    /// Device of both models (default 'auto': WebGPU when the browser gives a hardware adapter,
    /// else the CPU).
    #[ts(as = "Option<_>", optional)]
    pub backend: BackendChoice,
    /// Device of the generator only (default: `backend`).
    #[ts(optional)]
    pub generator_backend: Option<BackendChoice>,
    /// Burn CPU backend of the fallback (default 'flex').
    #[ts(as = "Option<_>", optional)]
    pub cpu_backend: CpuBackend,
    /// Threads of the CPU work in the browser (default 'auto'; read before the wasm module loads).
    #[ts(as = "Option<_>", optional)]
    pub threads: Threads,
}

/// Whether `device` is the CPU backend's or a GPU's.
pub fn kind_of(device: &Device) -> BackendKind {
    if CpuBackend::Flex.device() == *device {
        BackendKind::Cpu
    } else {
        BackendKind::Gpu
    }
}

/// The default CPU device.
pub fn cpu_device() -> Device {
    CpuBackend::default().device()
}

/// Whether an adapter is a software implementation (SwiftShader, lavapipe, WARP): such an
/// adapter runs the models on the CPU far slower than the CPU backend, so `'auto'` does not
/// take it.
pub fn is_software_adapter(fallback_flag: bool, device_type_cpu: bool, description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    fallback_flag || device_type_cpu || SOFTWARE_ADAPTERS.iter().any(|name| d.contains(name))
}

/// Lower-case names in the description of a software adapter.
pub const SOFTWARE_ADAPTERS: [&str; 5] = [
    "swiftshader",
    "llvmpipe",
    "lavapipe",
    "softpipe",
    "microsoft basic render",
];

/// The error of a GPU request in a build without the GPU path (the threaded wasm module).
#[cfg_attr(feature = "gpu", allow(dead_code))]
pub(crate) fn no_gpu() -> Error {
    Error::Unsupported(
        "this build has no GPU path (the threaded wasm module runs on the CPU only)".into(),
    )
}

#[cfg(feature = "gpu")]
struct Gpu {
    device: Device,
    /// wgpu's handles of the same device, for the generator's own kernels.
    handles: (wgpu::Device, wgpu::Queue),
    kernels: OnceLock<Arc<GpuContext>>,
    description: String,
    /// Read by native `auto` (the browser layer asks the browser instead).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    software: bool,
}

#[cfg(feature = "gpu")]
static GPU: OnceLock<Gpu> = OnceLock::new();

#[cfg(feature = "gpu")]
/// Keeps the first initialised GPU device (and a description of its adapter) for everyone.
fn remember(device: Device, setup: &burn::tensor::wgpu::WgpuSetup) -> &'static Gpu {
    let info = setup.adapter.get_info();
    let description = format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type);
    let software = is_software_adapter(
        false,
        format!("{:?}", info.device_type) == "Cpu",
        &info.name,
    );
    GPU.get_or_init(|| Gpu {
        device,
        handles: (setup.device.clone(), setup.queue.clone()),
        kernels: OnceLock::new(),
        description,
        software,
    })
}

/// The wgpu kernels' context on the GPU device, once that exists.
#[cfg(feature = "gpu")]
pub(crate) fn gpu_kernels() -> Option<Arc<GpuContext>> {
    let g = GPU.get()?;
    Some(
        g.kernels
            .get_or_init(|| GpuContext::new(g.handles.0.clone(), g.handles.1.clone()))
            .clone(),
    )
}

/// Name, graphics API and type of the GPU adapter in use, once the GPU device exists.
pub fn gpu_adapter_info() -> Option<String> {
    #[cfg(feature = "gpu")]
    return GPU.get().map(|g| g.description.clone());
    #[cfg(not(feature = "gpu"))]
    None
}

#[cfg(feature = "gpu")]
fn gpu_error(e: impl std::fmt::Debug) -> Error {
    Error::Backend(format!("no usable GPU adapter: {e:?}"))
}

/// The GPU device, initialised once and shared (a wgpu runtime must be registered only once).
/// Works on every platform; on the web it is the only way.
pub async fn gpu_device_async() -> Result<Device> {
    #[cfg(feature = "gpu")]
    {
        if let Some(g) = GPU.get() {
            return Ok(g.device.clone());
        }
        let (device, setup) = Device::wgpu_options()
            .init_with_setup_async()
            .await
            .map_err(gpu_error)?;
        Ok(remember(device, &setup).device.clone())
    }
    #[cfg(not(feature = "gpu"))]
    Err(no_gpu())
}

/// Native, blocking variant of [`gpu_device_async`].
#[cfg(all(not(target_arch = "wasm32"), feature = "gpu"))]
pub fn gpu_device() -> Result<Device> {
    // One initialisation at a time: Burn registers a runtime once, and a second thread that
    // raced past the check above would fail with "already initialized".
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(g) = GPU.get() {
        return Ok(g.device.clone());
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup()
        .map_err(gpu_error)?;
    Ok(remember(device, &setup).device.clone())
}

/// Native `auto`: the GPU when there is one that is not a software implementation, else
/// `Err` with the reason (the caller falls back to the CPU).
#[cfg(all(not(target_arch = "wasm32"), feature = "gpu"))]
pub fn hardware_gpu_device() -> std::result::Result<Device, String> {
    let device = gpu_device().map_err(|e| e.message().to_string())?;
    let gpu = GPU.get().expect("initialised by gpu_device");
    if gpu.software {
        return Err(format!(
            "the GPU adapter {} is a software implementation",
            gpu.description
        ));
    }
    Ok(device)
}

impl Options for DeviceOptions {}
impl Options for OpenDeviceOptions {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_take_auto_or_a_count_in_range() {
        let parse =
            |v: serde_json::Value| serde_json::from_value::<Threads>(v).map_err(|e| e.to_string());
        assert_eq!(parse(serde_json::json!("auto")), Ok(Threads::Auto));
        assert_eq!(parse(serde_json::json!(1)), Ok(Threads::Count(1)));
        assert_eq!(parse(serde_json::json!(4.0)), Ok(Threads::Count(4)));
        assert_eq!(
            parse(serde_json::json!(MAX_THREADS)),
            Ok(Threads::Count(MAX_THREADS))
        );
        for bad in [
            serde_json::json!(0),
            serde_json::json!(-2),
            serde_json::json!(1.5),
            serde_json::json!(MAX_THREADS + 1),
            serde_json::json!("all"),
            serde_json::json!(null),
        ] {
            let e = parse(bad.clone()).expect_err(&bad.to_string());
            assert!(
                e.contains("'auto' or a whole number from 1 to 64"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn software_adapters_are_recognised() {
        assert!(is_software_adapter(true, false, "Some GPU"));
        assert!(is_software_adapter(false, true, "Some GPU"));
        assert!(is_software_adapter(
            false,
            false,
            "llvmpipe (LLVM 15.0.6, 256 bits)"
        ));
        assert!(is_software_adapter(
            false,
            false,
            "SwiftShader Device (Subzero)"
        ));
        assert!(!is_software_adapter(
            false,
            false,
            "NVIDIA GeForce RTX 4090"
        ));
    }
}
