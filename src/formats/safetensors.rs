//! Reading model weights from the bytes of a `.safetensors` file. No filesystem, no network:
//! the caller hands over the bytes (fetched in the browser, read from disk natively).

use burn::tensor::{TensorData, bf16, f16};
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// A parsed safetensors file with the name prefix its tensors carry (`bert.`, `roberta.` or none).
pub struct Weights<'a> {
    file: SafeTensors<'a>,
    prefix: &'static str,
}

impl<'a> Weights<'a> {
    /// Parses the header. `probe` is a tensor name every file of this architecture has
    /// (without prefix); it decides which of the known prefixes the file uses.
    pub fn from_bytes(bytes: &'a [u8], probe: &str) -> Result<Self> {
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::ModelFormat(format!("not a valid safetensors file: {e}")))?;
        let prefix = ["", "bert.", "roberta.", "model."]
            .into_iter()
            .find(|p| file.tensor(&format!("{p}{probe}")).is_ok())
            .ok_or_else(|| {
                Error::ModelFormat(format!(
                    "safetensors file has no tensor `{probe}`: not a model of the expected architecture"
                ))
            })?;
        Ok(Weights { file, prefix })
    }

    /// The file without a name prefix (for tensors outside the model's namespace, such as a
    /// causal LM's `lm_head.weight` beside `model.*`).
    pub fn unprefixed(bytes: &'a [u8]) -> Result<Self> {
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::ModelFormat(format!("not a valid safetensors file: {e}")))?;
        Ok(Weights { file, prefix: "" })
    }

    /// Whether a tensor of that name (without prefix) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.file.tensor(&format!("{}{name}", self.prefix)).is_ok()
    }

    /// Reads one tensor as f32, checking that its shape is the expected one.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<TensorData> {
        let full = format!("{}{name}", self.prefix);
        let view = self
            .file
            .tensor(&full)
            .map_err(|_| Error::ModelFormat(format!("weights: missing tensor `{full}`")))?;
        if view.shape() != shape {
            return Err(Error::ModelFormat(format!(
                "weights: tensor `{full}` has shape {:?}, the config implies {:?}",
                view.shape(),
                shape
            )));
        }
        let bytes = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(Error::ModelFormat(format!(
                    "weights: tensor `{full}` has dtype {other:?}; only F32, F16 and BF16 are supported"
                )));
            }
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::ModelFormat(format!(
                "weights: tensor `{full}` holds a non-finite value at index {i}"
            )));
        }
        Ok(TensorData::new(values, shape.to_vec()))
    }

    /// Reads a `[out, in]` linear weight and returns it transposed to `[in, out]`, the layout
    /// the forward pass multiplies with.
    pub fn get_linear_weight(&self, name: &str, out: usize, inp: usize) -> Result<TensorData> {
        let data = self.get(name, &[out, inp])?;
        let w = data
            .as_slice::<f32>()
            .map_err(|e| Error::ModelFormat(format!("weights: {e:?}")))?;
        let mut t = vec![0f32; out * inp];
        for o in 0..out {
            for i in 0..inp {
                t[i * out + o] = w[o * inp + i];
            }
        }
        Ok(TensorData::new(t, vec![inp, out]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: HashMap<String, safetensors::tensor::TensorView<'_>> = tensors
            .iter()
            .map(|(n, d, s, b)| {
                (
                    n.to_string(),
                    safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_and_transposes_with_prefix() {
        let bytes = file(&[(
            "bert.w",
            Dtype::F32,
            vec![2, 3],
            f32_bytes(&[1., 2., 3., 4., 5., 6.]),
        )]);
        let w = Weights::from_bytes(&bytes, "w").unwrap();
        assert!(w.contains("w"));
        let t = w.get_linear_weight("w", 2, 3).unwrap();
        assert_eq!(t.as_slice::<f32>().unwrap(), &[1., 4., 2., 5., 3., 6.]);
        let e = w.get("w", &[3, 2]).unwrap_err();
        assert_eq!(e.code(), "E_MODEL_FORMAT");
        assert!(e.message().contains("shape"));
        assert!(w.get("missing", &[1]).is_err());
    }

    #[test]
    fn reads_half_precision() {
        let h: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| f16::from_f32(*x).to_le_bytes())
            .collect();
        let bytes = file(&[("p", Dtype::F16, vec![2], h)]);
        let w = Weights::from_bytes(&bytes, "p").unwrap();
        assert_eq!(
            w.get("p", &[2]).unwrap().as_slice::<f32>().unwrap(),
            &[1.5, -2.0]
        );
    }

    #[test]
    fn rejects_garbage_and_non_finite() {
        for junk in [&b""[..], b"12345678", &[0xff; 64]] {
            let e = Weights::from_bytes(junk, "w").err().unwrap();
            assert_eq!(e.code(), "E_MODEL_FORMAT");
        }
        let bytes = file(&[("w", Dtype::F32, vec![2], f32_bytes(&[1.0, f32::NAN]))]);
        let w = Weights::from_bytes(&bytes, "w").unwrap();
        assert!(
            w.get("w", &[2])
                .unwrap_err()
                .message()
                .contains("non-finite")
        );
        let e = Weights::from_bytes(&bytes, "other").err().unwrap();
        assert!(e.message().contains("no tensor"));
    }
}
