//! The image formats berthd reads and writes: OCI image-spec v1 and Docker
//! image manifest v2 schema 2 (with manifest lists). Both share one JSON
//! shape and differ in media types, so one set of types serves both.
//!
//! Only the fields berthd acts on are typed here. The bytes of every
//! manifest and config are kept as they came (their digest is over those
//! bytes, and Docker-only config fields such as `Healthcheck` must survive a
//! pull/save/push round trip), so these types are views, never re-serialised
//! in place of the original.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// OCI image manifest (image-spec manifest.md).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (image-spec image-index.md).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config (image-spec config.md).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer, uncompressed tar.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable layers (deprecated by image-spec 1.1, still read).
pub const OCI_LAYER_NONDIST_TAR: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub const OCI_LAYER_NONDIST_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const OCI_LAYER_NONDIST_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
/// Docker image manifest v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker layer (gzip-compressed tar).
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker foreign layer (gzip), downloaded from its URLs by docker.
pub const DOCKER_LAYER_FOREIGN_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Docker layer, uncompressed tar (docker-archive loads use plain tars).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Every manifest and index media type berthd accepts, for `Accept` headers.
pub const ACCEPTED_MANIFESTS: [&str; 4] = [
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// Why a manifest, index or config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{what} {digest} is not valid JSON: {source}")]
    Json {
        what: &'static str,
        digest: String,
        source: serde_json::Error,
    },
    #[error("unknown manifest media type {media_type:?} for {digest}")]
    UnknownMediaType { media_type: String, digest: String },
    #[error("unknown layer media type {media_type:?} for layer {digest}")]
    UnknownLayerMediaType { media_type: String, digest: String },
    #[error("no manifest for platform {platform} in {digest} (available: {available})")]
    NoMatchingPlatform {
        platform: String,
        digest: String,
        available: String,
    },
    #[error("invalid platform {0:?}: expected os/arch[/variant]")]
    InvalidPlatform(String),
    #[error("config {digest} lists {diff_ids} diff ids but the manifest has {layers} layers")]
    LayerCountMismatch {
        digest: String,
        diff_ids: usize,
        layers: usize,
    },
    #[error("invalid digest {digest:?} in {what}")]
    InvalidDigest { what: &'static str, digest: String },
    /// A descriptor whose size is below zero: no blob has a negative size,
    /// and a reader trusting it would misjudge what to expect.
    #[error("{what} {entry} in manifest {digest} has a negative size ({size})")]
    NegativeSize {
        what: &'static str,
        entry: String,
        digest: String,
        size: i64,
    },
    /// An index whose entry for the platform is the index itself: following
    /// it would never end.
    #[error("image index {digest} references itself for platform {platform}")]
    IndexReferencesItself { digest: String, platform: String },
    /// An index whose entry for the platform is another index.
    #[error("not implemented: nested image indexes (index {digest} lists index {nested} for platform {platform})")]
    NestedIndex {
        digest: String,
        nested: String,
        platform: String,
    },
}

/// A content descriptor (image-spec descriptor.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An image manifest: config + layers (OCI or Docker schema 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A platform: os, architecture and variant (image-spec image-index.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// The platform berthd runs on, in Go's names (amd64, arm64, ...).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "arm" => "arm",
            other => other,
        };
        let variant = match architecture {
            "arm64" => Some("v8".to_string()),
            _ => None,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant,
            os_version: None,
        }
    }

    /// Parses `os/arch[/variant]` (as `--platform` takes it); `arch` alone
    /// means linux.
    pub fn parse(s: &str) -> Result<Platform, ManifestError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || ManifestError::InvalidPlatform(s.to_string());
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(bad());
        }
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(variant.to_string())),
            _ => return Err(bad()),
        };
        let architecture = match arch {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Ok(Platform {
            os: os.to_lowercase(),
            architecture: architecture.to_string(),
            variant,
            os_version: None,
        })
    }

    /// Whether an index entry's platform serves this one: os and arch equal,
    /// and variant equal when both name one (arm64 "v8" is the default).
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        let norm = |v: &Option<String>| match (self.architecture.as_str(), v.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        match (norm(&self.variant), norm(&other.variant)) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The parts of an image config berthd reads (image-spec config.md). The
/// stored config keeps every other field: this view is never written back.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ImageConfigView {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
}

/// `rootfs` of an image config: the layers' uncompressed digests.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One `history` entry of an image config.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// What a manifest blob turned out to be.
#[derive(Debug, Clone)]
pub enum ManifestKind {
    Manifest(Box<Manifest>),
    Index(Index),
}

/// Whether a media type names an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Whether a media type names an image manifest.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Parses a manifest or index blob. `media_type` is what the registry (or
/// the parent descriptor) said; when it is empty or generic the blob's own
/// `mediaType` field decides, and an OCI manifest without one is told from an
/// index by its `manifests` / `config` field.
pub fn parse_manifest(
    media_type: &str,
    digest: &str,
    bytes: &[u8],
) -> Result<ManifestKind, ManifestError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
            what: "manifest",
            digest: digest.to_string(),
            source,
        })?;
    let declared = value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or("");
    let generic = |m: &str| m.is_empty() || m == "application/json" || m.starts_with("text/plain");
    let effective = if !generic(declared) {
        declared.to_string()
    } else if !generic(media_type) {
        media_type.to_string()
    } else if value.get("manifests").is_some() {
        OCI_INDEX.to_string()
    } else if value.get("config").is_some() {
        OCI_MANIFEST.to_string()
    } else {
        String::new()
    };
    let json_err = |source| ManifestError::Json {
        what: "manifest",
        digest: digest.to_string(),
        source,
    };
    if is_index(&effective) {
        let index: Index = serde_json::from_value(value).map_err(json_err)?;
        check_sizes(digest, "manifest", &index.manifests)?;
        Ok(ManifestKind::Index(index))
    } else if is_manifest(&effective) {
        let manifest: Manifest = serde_json::from_value(value).map_err(json_err)?;
        check_sizes(digest, "config", std::slice::from_ref(&manifest.config))?;
        check_sizes(digest, "layer", &manifest.layers)?;
        Ok(ManifestKind::Manifest(Box::new(manifest)))
    } else {
        Err(ManifestError::UnknownMediaType {
            media_type: if effective.is_empty() {
                media_type.to_string()
            } else {
                effective
            },
            digest: digest.to_string(),
        })
    }
}

/// Refuses descriptors with a negative size (`what`: which list).
fn check_sizes(digest: &str, what: &'static str, list: &[Descriptor]) -> Result<(), ManifestError> {
    match list.iter().find(|d| d.size < 0) {
        Some(d) => Err(ManifestError::NegativeSize {
            what,
            entry: d.digest.clone(),
            digest: digest.to_string(),
            size: d.size,
        }),
        None => Ok(()),
    }
}

/// Picks the manifest for `platform` from an index. Entries without a
/// platform are skipped (attestation manifests have "unknown/unknown").
/// An entry for the platform that is the index itself, or another index,
/// is named as such rather than reported as a missing platform.
pub fn select_platform<'a>(
    index: &'a Index,
    index_digest: &str,
    platform: &Platform,
) -> Result<&'a Descriptor, ManifestError> {
    let for_platform = |d: &&Descriptor| d.platform.as_ref().is_some_and(|p| platform.matches(p));
    if let Some(d) = index.manifests.iter().find(for_platform) {
        if d.digest == index_digest {
            return Err(ManifestError::IndexReferencesItself {
                digest: index_digest.to_string(),
                platform: platform.to_string(),
            });
        }
        if is_index(&d.media_type) {
            return Err(ManifestError::NestedIndex {
                digest: index_digest.to_string(),
                nested: d.digest.clone(),
                platform: platform.to_string(),
            });
        }
    }
    index
        .manifests
        .iter()
        .filter(|d| is_manifest(&d.media_type) || d.media_type.is_empty())
        .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
        .ok_or_else(|| ManifestError::NoMatchingPlatform {
            platform: platform.to_string(),
            digest: index_digest.to_string(),
            available: {
                let list: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                    .collect();
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            },
        })
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The compression a layer media type names; unknown types are an error
/// (never guessed: a config blob is no layer).
pub fn layer_compression(media_type: &str, digest: &str) -> Result<Compression, ManifestError> {
    match media_type {
        OCI_LAYER_TAR | OCI_LAYER_NONDIST_TAR | DOCKER_LAYER_TAR => Ok(Compression::None),
        OCI_LAYER_GZIP | OCI_LAYER_NONDIST_GZIP | DOCKER_LAYER_GZIP | DOCKER_LAYER_FOREIGN_GZIP => {
            Ok(Compression::Gzip)
        }
        OCI_LAYER_ZSTD | OCI_LAYER_NONDIST_ZSTD => Ok(Compression::Zstd),
        other => Err(ManifestError::UnknownLayerMediaType {
            media_type: other.to_string(),
            digest: digest.to_string(),
        }),
    }
}

/// Parses a config blob's fields berthd reads.
pub fn parse_config(digest: &str, bytes: &[u8]) -> Result<ImageConfigView, ManifestError> {
    serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
        what: "image config",
        digest: digest.to_string(),
        source,
    })
}

/// The chain IDs of a layer stack (image-spec config.md "Layer ChainID"):
/// `chain[0] = diff[0]`, `chain[n] = sha256(chain[n-1] + " " + diff[n])`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => {
                let h = Sha256::digest(format!("{parent} {diff}").as_bytes());
                format!("sha256:{}", hex(&h))
            }
        };
        out.push(next);
    }
    out
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parse_and_match() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(p.matches(&Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
            os_version: None
        }));
        assert!(!p.matches(&Platform::parse("linux/amd64").unwrap()));
        assert!(!Platform::parse("linux/arm/v7")
            .unwrap()
            .matches(&Platform::parse("linux/arm/v6").unwrap()));
        assert_eq!(
            Platform::parse("x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert!(Platform::parse("linux//v7").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
    }

    #[test]
    fn parse_manifest_tells_index_from_manifest() {
        let idx = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let ManifestKind::Index(index) = parse_manifest("", "d", idx).unwrap() else {
            panic!("index expected")
        };
        let host = Platform::parse("linux/amd64").unwrap();
        assert_eq!(
            select_platform(&index, "d", &host).unwrap().digest,
            "sha256:aa"
        );
        let err = select_platform(&index, "d", &Platform::parse("linux/s390x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("linux/s390x") && err.contains("linux/amd64"),
            "{err}"
        );

        let man = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"x","digest":"sha256:bb","size":2},"layers":[]}"#;
        assert!(matches!(
            parse_manifest("", "d", man).unwrap(),
            ManifestKind::Manifest(_)
        ));
        assert!(matches!(
            parse_manifest("", "d", b"<html>").unwrap_err(),
            ManifestError::Json { .. }
        ));
        let unknown = br#"{"schemaVersion":2,"mediaType":"application/x-unknown"}"#;
        assert!(matches!(
            parse_manifest("", "d", unknown).unwrap_err(),
            ManifestError::UnknownMediaType { .. }
        ));
    }

    #[test]
    fn negative_sizes_are_refused() {
        let man = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:bb","size":2},"layers":[{"mediaType":"y","digest":"sha256:cc","size":-1}]}"#;
        let e = parse_manifest("", "sha256:m", man).unwrap_err();
        assert!(
            matches!(e, ManifestError::NegativeSize { size: -1, .. }),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "layer sha256:cc in manifest sha256:m has a negative size (-1)"
        );
        let config = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:bb","size":-5},"layers":[]}"#;
        assert!(matches!(
            parse_manifest("", "d", config).unwrap_err(),
            ManifestError::NegativeSize { what: "config", .. }
        ));
        let idx = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":-2}]}"#;
        assert!(matches!(
            parse_manifest("", "d", idx).unwrap_err(),
            ManifestError::NegativeSize {
                what: "manifest",
                ..
            }
        ));
    }

    #[test]
    fn a_self_referencing_or_nested_index_is_named() {
        let host = Platform::parse("linux/amd64").unwrap();
        for media_type in [OCI_INDEX, OCI_MANIFEST] {
            let idx = format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{media_type}","digest":"sha256:self","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
            );
            let ManifestKind::Index(index) =
                parse_manifest("", "sha256:self", idx.as_bytes()).unwrap()
            else {
                panic!("index expected")
            };
            let e = select_platform(&index, "sha256:self", &host).unwrap_err();
            assert_eq!(
                e.to_string(),
                "image index sha256:self references itself for platform linux/amd64"
            );
            if media_type == OCI_INDEX {
                let e = select_platform(&index, "sha256:parent", &host).unwrap_err();
                assert!(matches!(e, ManifestError::NestedIndex { .. }), "{e}");
                assert!(e.to_string().contains("nested image indexes"), "{e}");
            }
        }
    }

    #[test]
    fn layer_compressions() {
        assert_eq!(
            layer_compression(DOCKER_LAYER_GZIP, "d").unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            layer_compression(OCI_LAYER_ZSTD, "d").unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            layer_compression(OCI_LAYER_TAR, "d").unwrap(),
            Compression::None
        );
        assert!(layer_compression(OCI_CONFIG, "d").is_err());
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let diffs = vec!["sha256:a".to_string(), "sha256:b".to_string()];
        let chain = chain_ids(&diffs);
        assert_eq!(chain[0], "sha256:a");
        assert_eq!(chain[1], sha256_digest(b"sha256:a sha256:b"));
    }
}
