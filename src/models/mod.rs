//! Model architectures, one file each. They hold Burn tensors on a [`burn::tensor::Device`], so
//! the same code runs on every backend the device names (WebGPU/Vulkan through wgpu, ndarray on
//! the CPU): Burn 0.22 dispatches on the device at run time instead of a type parameter.

pub mod bert;
pub mod llama;
