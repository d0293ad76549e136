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

/// Burn's two pure-Rust CPU backends; both are built so the benchmark can compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuBackend {
    /// `burn-flex`, Burn's current CPU backend.
    Flex,
    /// `burn-ndarray`, deprecated in Burn 0.22.
    NdArray,
}

impl CpuBackend {
    /// The one `cpu_device()` uses (the faster in BENCHMARKS.md).
    pub const DEFAULT: CpuBackend = CpuBackend::Flex;

    /// Parses `"flex"` or `"ndarray"`.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "flex" => Ok(CpuBackend::Flex),
            "ndarray" => Ok(CpuBackend::NdArray),
            other => Err(Error::Input(format!(
                "CPU backend `{other}` is not one of flex, ndarray"
            ))),
        }
    }

    /// The device for this backend.
    #[allow(deprecated)]
    pub fn device(self) -> Device {
        match self {
            CpuBackend::Flex => Device::flex(),
            CpuBackend::NdArray => Device::ndarray(),
        }
    }
}

/// The default CPU device.
pub fn cpu_device() -> Device {
    CpuBackend::DEFAULT.device()
}

static GPU: OnceLock<(Device, String)> = OnceLock::new();

/// Keeps the first initialised GPU device (and a description of its adapter) for everyone.
fn remember(device: Device, setup: &burn::tensor::wgpu::WgpuSetup) -> Device {
    let info = setup.adapter.get_info();
    let described = format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type);
    GPU.get_or_init(|| (device, described)).0.clone()
}

/// Name, graphics API and type of the GPU adapter in use, once the GPU device exists.
pub fn gpu_adapter_info() -> Option<String> {
    GPU.get().map(|(_, info)| info.clone())
}

fn gpu_error(e: impl std::fmt::Debug) -> Error {
    Error::Backend(format!("no usable GPU adapter: {e:?}"))
}

/// The GPU device, initialised once and shared (a wgpu runtime must be registered only once).
/// Works on every platform; on the web it is the only way.
pub async fn gpu_device_async() -> Result<Device> {
    if let Some((d, _)) = GPU.get() {
        return Ok(d.clone());
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(gpu_error)?;
    Ok(remember(device, &setup))
}

/// Native, blocking variant of [`gpu_device_async`].
#[cfg(not(target_arch = "wasm32"))]
pub fn gpu_device() -> Result<Device> {
    if let Some((d, _)) = GPU.get() {
        return Ok(d.clone());
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup()
        .map_err(gpu_error)?;
    Ok(remember(device, &setup))
}
