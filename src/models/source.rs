//! Where a model's weights come from: a GGUF file (llama.cpp's tensor names) or a Hugging Face
//! safetensors file (its own names), behind one [`Source`] trait the architectures read through.
//! Matrices stay in the file's blocks ([`QMatrix`], sharing the file's bytes); vectors, which
//! are small, become f32. Every value is checked finite at load.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::formats::{GgmlType, Gguf, dequantize};
use crate::kernels::QMatrix;

/// Where the weights come from: a tensor by its GGUF name and its Hugging Face name.
pub trait Source {
    /// A `[rows, cols]` matrix (rows = outputs), checked against the config's shape.
    fn matrix(&self, gguf: &str, hf: &str, rows: usize, cols: usize) -> Result<QMatrix>;
    /// A vector of `n` values as f32.
    fn vector(&self, gguf: &str, hf: &str, n: usize) -> Result<Vec<f32>>;
    fn has(&self, gguf: &str, hf: &str) -> bool;
}

/// A GGUF file's tensors, sharing the file's bytes.
pub struct GgufSource<'a> {
    pub gguf: &'a Gguf<'a>,
    pub bytes: Arc<Vec<u8>>,
}

fn format_err(msg: String) -> Error {
    Error::ModelFormat(format!("GGUF: {msg}"))
}

/// Checks that a matrix's scales (and, for float types, values) are finite: a damaged file is
/// refused at load instead of producing NaN logits later.
fn check_finite(name: &str, m: &QMatrix) -> Result<()> {
    let (per_block, block_bytes) = m.kind().block().expect("readable");
    // The f16 fields of each block (scales, minimums) or every value of a float type.
    let fields: &[usize] = match m.kind() {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => &[],
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K | GgmlType::Q5K => &[0, 2],
        GgmlType::Q6K => &[208],
        GgmlType::Other(_) => &[],
    };
    let bad = if fields.is_empty() {
        // Float types: scan a row at a time.
        (0..m.rows()).any(|r| m.row_f32(r).iter().any(|v| !v.is_finite()))
    } else {
        let _ = per_block;
        m.bytes().chunks_exact(block_bytes).any(|b| {
            fields
                .iter()
                .any(|&f| !crate::formats::quant::half(&b[f..f + 2]).is_finite())
        })
    };
    if bad {
        return Err(format_err(format!(
            "tensor `{name}` holds a non-finite value"
        )));
    }
    Ok(())
}

impl Source for GgufSource<'_> {
    fn matrix(&self, name: &str, _hf: &str, rows: usize, cols: usize) -> Result<QMatrix> {
        let info = self.gguf.tensor(name)?;
        if info.dims != [cols as u64, rows as u64] {
            return Err(format_err(format!(
                "tensor `{name}` has dims {:?}, the model config implies {:?}",
                info.dims,
                [cols, rows]
            )));
        }
        let m = QMatrix::new(info.kind, rows, cols, self.bytes.clone(), info.start)
            .map_err(|e| format_err(format!("tensor `{name}`: {}", e.message())))?;
        check_finite(name, &m)?;
        Ok(m)
    }

    fn vector(&self, name: &str, _hf: &str, n: usize) -> Result<Vec<f32>> {
        let info = self.gguf.tensor(name)?;
        if info.dims != [n as u64] {
            return Err(format_err(format!(
                "tensor `{name}` has dims {:?}, the model config implies [{n}]",
                info.dims
            )));
        }
        let values = dequantize(info.kind, self.gguf.tensor_bytes(info)?, n)
            .map_err(|e| format_err(format!("tensor `{name}`: {e}")))?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(format_err(format!(
                "tensor `{name}` holds a non-finite value"
            )));
        }
        Ok(values)
    }

    fn has(&self, name: &str, _hf: &str) -> bool {
        self.gguf.tensor(name).is_ok()
    }
}

/// A Hugging Face safetensors file's tensors (`model.*` names, `lm_head.weight` at the root),
/// F32, F16 or BF16, sharing the file's bytes.
pub struct SafetensorsSource<'a> {
    pub file: safetensors::SafeTensors<'a>,
    pub bytes: Arc<Vec<u8>>,
}

impl SafetensorsSource<'_> {
    fn view(&self, hf: &str) -> Result<(String, safetensors::tensor::TensorView<'_>)> {
        ["model.", ""]
            .iter()
            .map(|p| format!("{p}{hf}"))
            .find_map(|name| self.file.tensor(&name).ok().map(|v| (name, v)))
            .ok_or_else(|| Error::ModelFormat(format!("weights: missing tensor `{hf}`")))
    }

    fn kind(name: &str, view: &safetensors::tensor::TensorView<'_>) -> Result<GgmlType> {
        match view.dtype() {
            safetensors::Dtype::F32 => Ok(GgmlType::F32),
            safetensors::Dtype::F16 => Ok(GgmlType::F16),
            safetensors::Dtype::BF16 => Ok(GgmlType::BF16),
            other => Err(Error::ModelFormat(format!(
                "weights: tensor `{name}` has dtype {other:?}; only F32, F16 and BF16 are supported"
            ))),
        }
    }
}

impl Source for SafetensorsSource<'_> {
    fn matrix(&self, _gguf: &str, hf: &str, rows: usize, cols: usize) -> Result<QMatrix> {
        let (name, view) = self.view(hf)?;
        if view.shape() != [rows, cols] {
            return Err(Error::ModelFormat(format!(
                "weights: tensor `{name}` has shape {:?}, the config implies {:?}",
                view.shape(),
                [rows, cols]
            )));
        }
        let offset = view.data().as_ptr() as usize - self.bytes.as_ptr() as usize;
        let m = QMatrix::new(
            Self::kind(&name, &view)?,
            rows,
            cols,
            self.bytes.clone(),
            offset,
        )?;
        check_finite(&name, &m)?;
        Ok(m)
    }

    fn vector(&self, _gguf: &str, hf: &str, n: usize) -> Result<Vec<f32>> {
        let (name, view) = self.view(hf)?;
        if view.shape() != [n] {
            return Err(Error::ModelFormat(format!(
                "weights: tensor `{name}` has shape {:?}, the config implies [{n}]",
                view.shape()
            )));
        }
        let values = dequantize(Self::kind(&name, &view)?, view.data(), n)
            .map_err(|e| Error::ModelFormat(format!("weights: tensor `{name}`: {e}")))?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::ModelFormat(format!(
                "weights: tensor `{name}` holds a non-finite value"
            )));
        }
        Ok(values)
    }

    fn has(&self, _gguf: &str, hf: &str) -> bool {
        !hf.is_empty() && self.view(hf).is_ok()
    }
}
