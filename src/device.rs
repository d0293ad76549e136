//! Which compute device the models run on. Platform-free: the browser layer decides *when* to
//! ask for the GPU (after checking `navigator.gpu`), this module knows *how*.

use std::sync::OnceLock;

use burn::tensor::Device;

use crate::error::{Error, Result};

/// The two kinds of device localrag runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Burn's wgpu backend: WebGPU in the browser, Vulkan/Metal/DX12 natively.
    Gpu,
    /// Burn's ndarray backend on the CPU.
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

/// The CPU device.
pub fn cpu_device() -> Device {
    Device::ndarray()
}

static GPU: OnceLock<Device> = OnceLock::new();

fn gpu_error(e: impl std::fmt::Debug) -> Error {
    Error::Backend(format!("no usable GPU adapter: {e:?}"))
}

/// The GPU device, initialised once and shared (a wgpu runtime must be registered only once).
/// Works on every platform; on the web it is the only way.
pub async fn gpu_device_async() -> Result<Device> {
    if let Some(d) = GPU.get() {
        return Ok(d.clone());
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(gpu_error)?;
    Ok(GPU.get_or_init(|| device).clone())
}

/// Native, blocking variant of [`gpu_device_async`].
#[cfg(not(target_arch = "wasm32"))]
pub fn gpu_device() -> Result<Device> {
    if let Some(d) = GPU.get() {
        return Ok(d.clone());
    }
    let device = Device::wgpu_options().init().map_err(gpu_error)?;
    Ok(GPU.get_or_init(|| device).clone())
}
