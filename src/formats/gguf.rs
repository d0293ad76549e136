//! Reading llama.cpp's GGUF container from bytes: header (v2 and v3), metadata of every value
//! type, tensor infos and alignment. What the tensors' blocks mean is [`super::quant`]'s.
//!
//! ```text
//! "GGUF" u32:version u64:n_tensors u64:n_kv  kv*  tensor_info*  pad-to-alignment  tensor data
//! ```
//! Written here rather than taken from a crate: the GGUF readers on crates.io either come with a
//! whole second tensor library (candle-core) or are young single-purpose crates, and this one has
//! to hold to our own rules: every count and length is checked against the bytes that are left
//! before anything is allocated, so a truncated or hostile file gives a typed error, never a panic
//! or a huge allocation.

use std::collections::BTreeMap;

use super::quant::{GgmlType, dequantize};
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml never uses more dimensions than this.
const MAX_DIMS: u32 = 4;

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }

    /// The value as a signed integer.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v as i64),
            Value::I16(v) => Some(v as i64),
            Value::I32(v) => Some(v as i64),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a float, from either float width.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Where one tensor's data lies and how it is laid out.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the fastest-varying (a row's length).
    pub dims: Vec<u64>,
    pub kind: GgmlType,
    /// Byte range inside the file.
    pub start: usize,
    pub len: usize,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.dims.iter().product::<u64>() as usize
    }

    /// Row length (`dims[0]`) and number of rows (the product of the other dims).
    pub fn rows_cols(&self) -> (usize, usize) {
        let cols = self.dims.first().copied().unwrap_or(1) as usize;
        (self.elements() / cols.max(1), cols)
    }
}

/// A parsed GGUF file borrowing the bytes it came from.
pub struct Gguf<'a> {
    bytes: &'a [u8],
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    index: BTreeMap<String, usize>,
}

pub(crate) fn format_err(msg: impl Into<String>) -> Error {
    Error::ModelFormat(format!("GGUF: {}", msg.into()))
}

/// A bounds-checked cursor over the file's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(format_err(format!(
                "file is truncated: {what} needs {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that is about to size an allocation: each item needs at least `min_item_bytes`,
    /// so a count larger than the rest of the file allows is rejected up front.
    fn count(&mut self, min_item_bytes: usize, what: &str) -> Result<usize> {
        let n = self.u64(what)?;
        let max = (self.remaining() / min_item_bytes.max(1)) as u64;
        if n > max {
            return Err(format_err(format!(
                "{what} is {n}, but only {} bytes are left in the file",
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.count(1, what)?;
        let raw = self.take(n, what)?;
        String::from_utf8(raw.to_vec())
            .map_err(|_| format_err(format!("{what} is not valid UTF-8")))
    }

    fn value(&mut self, kind: u32, key: &str, depth: u32) -> Result<Value> {
        let what = format!("value of `{key}`");
        Ok(match kind {
            0 => Value::U8(self.array::<1>(&what)?[0]),
            1 => Value::I8(self.array::<1>(&what)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(&what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(&what)?)),
            4 => Value::U32(self.u32(&what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(&what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(&what)?)),
            7 => match self.array::<1>(&what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(format_err(format!(
                        "`{key}`: bool byte {b} is neither 0 nor 1"
                    )));
                }
            },
            8 => Value::String(self.string(&what)?),
            9 => {
                if depth > 0 {
                    return Err(format_err(format!(
                        "`{key}`: nested arrays are not supported"
                    )));
                }
                let item = self.u32(&what)?;
                let min = match item {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    _ => 1,
                };
                let n = self.count(min, &format!("length of array `{key}`"))?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(&what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            other => {
                return Err(format_err(format!(
                    "`{key}` has unknown value type {other}"
                )));
            }
        })
    }
}

impl<'a> Gguf<'a> {
    /// Parses the header, the metadata and the tensor infos, and checks that every tensor's data
    /// lies inside the file. Tensor data is only read when asked for.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        if bytes.len() < 4 || &bytes[..4] != MAGIC {
            return Err(format_err(
                "not a GGUF file (the magic bytes `GGUF` are missing)",
            ));
        }
        r.pos = 4;
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(format_err(format!(
                "version {version} is not supported (only versions 2 and 3)"
            )));
        }
        // Each tensor info is at least name length + n_dims + type + offset = 24 bytes; each
        // key/value at least key length + type = 12.
        let n_tensors = r.count(24, "tensor count")?;
        let n_kv = r.count(12, "metadata count")?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string("metadata key")?;
            let kind = r.u32("metadata value type")?;
            let value = r.value(kind, &key, 0)?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
                _ => {
                    return Err(format_err(format!(
                        "general.alignment {v:?} is not a power of two"
                    )));
                }
            },
        };
        let mut raw = Vec::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = r.string("tensor name")?;
            let n_dims = r.u32("tensor dimension count")?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(format_err(format!(
                    "tensor `{name}` has {n_dims} dimensions (1 to {MAX_DIMS} allowed)"
                )));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64("tensor dimension")?);
            }
            let kind = GgmlType::from_u32(r.u32("tensor type")?);
            let offset = r.u64("tensor offset")?;
            raw.push((name, dims, kind, offset));
        }
        let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
        let mut tensors = Vec::with_capacity(raw.len());
        let mut index = BTreeMap::new();
        for (name, dims, kind, offset) in raw {
            let elements = dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .filter(|&e| e > 0)
                .ok_or_else(|| format_err(format!("tensor `{name}` has dimensions {dims:?}")))?;
            if offset % alignment != 0 {
                return Err(format_err(format!(
                    "tensor `{name}` starts at offset {offset}, not a multiple of the alignment {alignment}"
                )));
            }
            // Size only for types we can read; others are kept so that asking for them names
            // the type in the error.
            let len = match kind.block() {
                Some((per_block, block_bytes)) => {
                    if dims[0] % per_block as u64 != 0 {
                        return Err(format_err(format!(
                            "tensor `{name}`: row length {} is not a multiple of {per_block} ({})",
                            dims[0],
                            kind.name()
                        )));
                    }
                    (elements / per_block as u64)
                        .checked_mul(block_bytes as u64)
                        .ok_or_else(|| format_err(format!("tensor `{name}` is too large")))?
                }
                None => 0,
            };
            let start = data_start
                .checked_add(offset)
                .filter(|s| s.checked_add(len).is_some_and(|e| e <= bytes.len() as u64))
                .ok_or_else(|| {
                    format_err(format!(
                        "tensor `{name}` ({len} bytes at offset {offset}) lies beyond the end of the file ({} bytes): the file is truncated",
                        bytes.len()
                    ))
                })?;
            if index.insert(name.clone(), tensors.len()).is_some() {
                return Err(format_err(format!("tensor `{name}` appears twice")));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                kind,
                start: start as usize,
                len: len as usize,
            });
        }
        Ok(Gguf {
            bytes,
            version,
            metadata,
            tensors,
            index,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A required metadata value, with a typed error naming the key when it is missing.
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.metadata
            .get(key)
            .ok_or_else(|| format_err(format!("metadata key `{key}` is missing")))
    }

    pub fn require_u64(&self, key: &str) -> Result<u64> {
        let v = self.require(key)?;
        v.as_u64()
            .ok_or_else(|| format_err(format!("`{key}` should be an unsigned integer, is {v:?}")))
    }

    pub fn require_str(&self, key: &str) -> Result<&str> {
        let v = self.require(key)?;
        v.as_str()
            .ok_or_else(|| format_err(format!("`{key}` should be a string")))
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.index
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| format_err(format!("tensor `{name}` is missing")))
    }

    /// The raw bytes of a tensor (for types this reader understands).
    pub fn tensor_bytes(&self, info: &TensorInfo) -> Result<&'a [u8]> {
        if info.kind.block().is_none() {
            return Err(unsupported(info));
        }
        Ok(&self.bytes[info.start..info.start + info.len])
    }

    /// Dequantises a whole tensor to f32, in ggml order (row-major with `dims[0]` per row),
    /// after checking that its dims are `expect` (ggml order).
    pub fn tensor_f32(&self, name: &str, expect: &[u64]) -> Result<Vec<f32>> {
        let info = self.tensor(name)?;
        if info.dims != expect {
            return Err(format_err(format!(
                "tensor `{name}` has dims {:?}, the model config implies {expect:?}",
                info.dims
            )));
        }
        let values = dequantize(info.kind, self.tensor_bytes(info)?, info.elements())
            .map_err(|e| format_err(format!("tensor `{name}`: {e}")))?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(format_err(format!(
                "tensor `{name}` holds a non-finite value at index {i}"
            )));
        }
        Ok(values)
    }
}

fn unsupported(info: &TensorInfo) -> Error {
    Error::ModelFormat(format!(
        "GGUF: tensor `{}` is of type {}, which localrag cannot dequantise (supported: F32, F16, Q8_0, Q4_0, Q4_1)",
        info.name,
        info.kind.name()
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::tensor::f16;

    /// A minimal GGUF writer for the tests.
    pub(crate) struct Writer {
        pub kv: Vec<u8>,
        pub n_kv: u64,
        pub infos: Vec<u8>,
        pub data: Vec<u8>,
        pub n_tensors: u64,
        pub version: u32,
    }

    impl Writer {
        pub fn new() -> Self {
            Writer {
                kv: vec![],
                n_kv: 0,
                infos: vec![],
                data: vec![],
                n_tensors: 0,
                version: 3,
            }
        }
        fn s(buf: &mut Vec<u8>, s: &str) {
            buf.extend((s.len() as u64).to_le_bytes());
            buf.extend(s.as_bytes());
        }
        pub fn kv_u32(&mut self, k: &str, v: u32) {
            Self::s(&mut self.kv, k);
            self.kv.extend(4u32.to_le_bytes());
            self.kv.extend(v.to_le_bytes());
            self.n_kv += 1;
        }
        pub fn kv_str(&mut self, k: &str, v: &str) {
            Self::s(&mut self.kv, k);
            self.kv.extend(8u32.to_le_bytes());
            Self::s(&mut self.kv, v);
            self.n_kv += 1;
        }
        pub fn kv_strs(&mut self, k: &str, v: &[&str]) {
            Self::s(&mut self.kv, k);
            self.kv.extend(9u32.to_le_bytes());
            self.kv.extend(8u32.to_le_bytes());
            self.kv.extend((v.len() as u64).to_le_bytes());
            for s in v {
                Self::s(&mut self.kv, s);
            }
            self.n_kv += 1;
        }
        pub fn tensor(&mut self, name: &str, dims: &[u64], kind: u32, bytes: &[u8]) {
            while self.data.len() % 32 != 0 {
                self.data.push(0);
            }
            Self::s(&mut self.infos, name);
            self.infos.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                self.infos.extend(d.to_le_bytes());
            }
            self.infos.extend(kind.to_le_bytes());
            self.infos.extend((self.data.len() as u64).to_le_bytes());
            self.data.extend(bytes);
            self.n_tensors += 1;
        }
        pub fn finish(&self) -> Vec<u8> {
            let mut out = b"GGUF".to_vec();
            out.extend(self.version.to_le_bytes());
            out.extend(self.n_tensors.to_le_bytes());
            out.extend(self.n_kv.to_le_bytes());
            out.extend(&self.kv);
            out.extend(&self.infos);
            while out.len() % 32 != 0 {
                out.push(0);
            }
            out.extend(&self.data);
            out
        }
    }

    fn h(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    fn sample() -> Vec<u8> {
        sample_with(true)
    }

    /// `unknown`: add a tensor of a type the reader cannot size (Q4_K) at the end.
    fn sample_with(unknown: bool) -> Vec<u8> {
        let mut w = Writer::new();
        w.kv_u32("llama.block_count", 2);
        w.kv_str("general.architecture", "llama");
        w.kv_strs("tokenizer.ggml.tokens", &["a", "b"]);
        let f: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        w.tensor("w", &[3, 2], 0, &f);
        let mut q = h(1.0).to_vec();
        q.extend([3u8; 32]);
        w.tensor("q", &[32], 8, &q);
        if unknown {
            w.tensor("k", &[256], 10, &[0; 84]);
        }
        w.finish()
    }

    #[test]
    fn parses_metadata_and_tensors() {
        let bytes = sample();
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.version, 3);
        assert_eq!(g.require_u64("llama.block_count").unwrap(), 2);
        assert_eq!(g.require_str("general.architecture").unwrap(), "llama");
        assert_eq!(
            g.get("tokenizer.ggml.tokens")
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            g.tensor_f32("w", &[3, 2]).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        assert_eq!(g.tensor("w").unwrap().rows_cols(), (2, 3));
        assert_eq!(g.tensor_f32("q", &[32]).unwrap(), vec![3.0; 32]);
        let e = g.tensor_f32("w", &[2, 3]).unwrap_err().to_string();
        assert!(e.contains("dims"), "{e}");
        let e = g.tensor_f32("k", &[256]).unwrap_err().to_string();
        assert!(e.contains("Q2_K"), "{e}");
        assert!(
            g.tensor_f32("nope", &[1])
                .unwrap_err()
                .to_string()
                .contains("missing")
        );
    }

    #[test]
    fn version_2_is_accepted_and_others_rejected() {
        let mut bytes = sample();
        bytes[4] = 2;
        assert_eq!(Gguf::parse(&bytes).unwrap().version, 2);
        bytes[4] = 1;
        let e = Gguf::parse(&bytes).err().unwrap().to_string();
        assert!(e.contains("version 1"), "{e}");
        assert!(Gguf::parse(b"GGML....").is_err());
        assert!(Gguf::parse(b"").is_err());
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        // (Data of a type the reader cannot size is only checked when it is asked for.)
        let bytes = sample_with(false);
        for cut in 0..bytes.len() {
            match Gguf::parse(&bytes[..cut]) {
                Err(Error::ModelFormat(_)) => {}
                Err(other) => panic!("cut {cut}: wrong error {other:?}"),
                Ok(g) => panic!("cut {cut}: parsed {} tensors", g.tensors.len()),
            }
        }
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        let mut bytes = sample();
        // tensor count → 2^62
        bytes[8..16].copy_from_slice(&(1u64 << 62).to_le_bytes());
        let e = Gguf::parse(&bytes).err().unwrap().to_string();
        assert!(e.contains("tensor count"), "{e}");
        let mut bytes = sample();
        // first key's length → 2^60
        bytes[24..32].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(matches!(Gguf::parse(&bytes), Err(Error::ModelFormat(_))));
        // corrupt every byte in turn: never a panic
        let good = sample();
        for i in 0..good.len() {
            for v in [0u8, 0xff, 0x7f] {
                let mut b = good.clone();
                b[i] = v;
                let _ = Gguf::parse(&b).map(|g| g.tensor_f32("w", &[3, 2]));
            }
        }
    }
}
