//! Content digests (`sha256:<64 hex>`) and OCI descriptors.
//!
//! Only sha256 is supported: it is what every registry and image format in use produces
//! (OCI image-spec, descriptor.md, "Digests": sha256 is the one algorithm implementations
//! MUST support). A [`Digest`] is always valid once constructed, so paths built from it
//! (`blobs/sha256/<hex>`) can never escape the store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A parse failure of a digest string.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// The string is not `sha256:` followed by 64 lower-case hex digits.
    #[error("invalid digest {0:?}: want sha256:<64 lower-case hex digits>")]
    Invalid(String),
}

/// A validated sha256 content digest, displayed as `sha256:<hex>`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// The algorithm prefix of every digest this crate handles.
    pub const ALGORITHM: &'static str = "sha256";

    /// Parses `sha256:<64 lower-case hex>`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| DigestError::Invalid(s.to_string()))?;
        Digest::from_hex(hex).map_err(|_| DigestError::Invalid(s.to_string()))
    }

    /// Builds a digest from its 64 lower-case hex digits (no algorithm prefix).
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::Invalid(hex.to_string()));
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }

    /// Builds a digest from a finished sha256 hash.
    pub fn from_sha256(hash: Sha256) -> Digest {
        Digest::from_bytes(&hash.finalize())
    }

    /// Builds a digest from the 32 raw bytes of a sha256 sum.
    pub fn from_bytes(sum: &[u8]) -> Digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(sum.len() * 2);
        for b in sum {
            hex.push(HEX[(b >> 4) as usize] as char);
            hex.push(HEX[(b & 15) as usize] as char);
        }
        Digest { hex }
    }

    /// The sha256 digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::new_with_prefix(data))
    }

    /// The 64 hex digits, without the `sha256:` prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An OCI content descriptor (image-spec descriptor.md): what a blob is, its digest and size.
/// Serialized with the spec's field names (`mediaType`, `digest`, `size`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type, e.g. `application/vnd.oci.image.manifest.v1+json`.
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_lower_case_sha256() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        for bad in [
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "sha256:ba78",
            "sha256:../../../../etc/passwd",
        ] {
            let err = Digest::parse(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid digest {bad:?}: want sha256:<64 lower-case hex digits>")
            );
        }
    }

    #[test]
    fn descriptors_use_the_spec_field_names() {
        let d = Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: Digest::of(b""),
            size: 0,
        };
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(json["digest"], Digest::of(b"").to_string());
        assert_eq!(serde_json::from_value::<Descriptor>(json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
