//! The export file: one knowledge base as a single versioned binary file.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! 0   8 bytes  magic "LOCALRAG"
//! 8   u32      archive version (1)
//! 12  u64      body length n
//! 20  n bytes  body: postcard of the store's three key spaces (meta: manifest and index
//!              snapshot; docs; chunks with their vectors), records exactly as stored
//! 20+n u32     CRC-32 of the body
//! ```
//!
//! The records are the store's own bytes, so an import followed by an export gives the same
//! file. The manifest's write counter (`generation`) belongs to one database and is left out.

use serde::{Deserialize, Serialize};

use super::store::Contents;
use crate::error::{Error, Result};

/// First bytes of every export file.
pub const MAGIC: &[u8; 8] = b"LOCALRAG";
/// The archive layout this build writes and the newest it reads.
pub const VERSION: u32 = 1;

const HEADER: usize = 8 + 4 + 8;

#[derive(Serialize, Deserialize)]
struct Body {
    meta: Vec<(String, Vec<u8>)>,
    docs: Vec<(String, Vec<u8>)>,
    chunks: Vec<(String, Vec<u8>)>,
}

/// Encodes a store's contents. `manifest` replaces the stored manifest record (the caller
/// passes it without the write counter).
pub fn write(contents: &Contents, manifest: Vec<u8>) -> Result<Vec<u8>> {
    let mut meta: Vec<(String, Vec<u8>)> = contents
        .meta
        .iter()
        .filter(|(k, _)| k != "manifest")
        .cloned()
        .collect();
    meta.push(("manifest".into(), manifest));
    meta.sort();
    let body = Body {
        meta,
        docs: contents.docs.clone(),
        chunks: contents.chunks.clone(),
    };
    let body = postcard::to_stdvec(&body)
        .map_err(|e| Error::Output(format!("could not encode the export: {e}")))?;
    let mut out = Vec::with_capacity(HEADER + body.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    Ok(out)
}

/// Decodes an export file, checking its magic, version, length and checksum. Every failure is
/// [`Error::Corrupt`] with what is wrong.
pub fn read(bytes: &[u8]) -> Result<Contents> {
    if bytes.len() < HEADER + 4 || &bytes[..8] != MAGIC {
        return Err(Error::Corrupt(
            "this is not a localrag export file (it does not start with LOCALRAG)".into(),
        ));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version == 0 || version > VERSION {
        return Err(Error::Corrupt(format!(
            "the export file has format version {version}; this localrag reads up to {VERSION}"
        )));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected = (HEADER as u64)
        .checked_add(len)
        .and_then(|n| n.checked_add(4));
    if expected != Some(bytes.len() as u64) {
        return Err(Error::Corrupt(format!(
            "the export file is {} bytes but its header says {}: it is truncated or damaged",
            bytes.len(),
            expected.map_or_else(|| "more than fits".to_string(), |n| n.to_string())
        )));
    }
    let body = &bytes[HEADER..bytes.len() - 4];
    let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc {
        return Err(Error::Corrupt(
            "the export file is damaged (its checksum does not match)".into(),
        ));
    }
    let body: Body = postcard::from_bytes(body)
        .map_err(|e| Error::Corrupt(format!("the export file's contents do not decode: {e}")))?;
    Ok(Contents {
        meta: body.meta,
        docs: body.docs,
        chunks: body.chunks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Contents {
        Contents {
            meta: vec![
                ("manifest".into(), b"{\"old\":1}".to_vec()),
                ("snapshot".into(), vec![1, 2, 3]),
            ],
            docs: vec![("a".into(), vec![9; 40]), ("b".into(), vec![])],
            chunks: vec![("0000000000000001".into(), vec![7; 1536])],
        }
    }

    #[test]
    fn round_trips_and_replaces_the_manifest() {
        let bytes = write(&sample(), b"{\"new\":2}".to_vec()).unwrap();
        assert_eq!(&bytes[..8], MAGIC);
        let back = read(&bytes).unwrap();
        assert_eq!(back.meta("manifest"), Some(&b"{\"new\":2}"[..]));
        assert_eq!(back.meta("snapshot"), Some(&[1u8, 2, 3][..]));
        assert_eq!(back.docs, sample().docs);
        assert_eq!(back.chunks, sample().chunks);
        // Writing what was read gives the same bytes.
        assert_eq!(write(&back, b"{\"new\":2}".to_vec()).unwrap(), bytes);
    }

    #[test]
    fn every_damage_is_a_corrupt_error() {
        let bytes = write(&sample(), b"{}".to_vec()).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x41;
            let e = read(&bad).unwrap_err();
            assert_eq!(e.code(), "E_CORRUPT", "byte {i}: {e}");
        }
        for cut in 0..bytes.len() {
            assert_eq!(read(&bytes[..cut]).unwrap_err().code(), "E_CORRUPT");
        }
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(read(&newer).unwrap_err().message().contains("version 2"));
        assert!(
            read(b"PK\x03\x04 not ours at all....")
                .unwrap_err()
                .message()
                .contains("not a localrag export")
        );
    }
}
