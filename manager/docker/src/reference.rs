//! Image references: parsing and normalisation the way docker and containerd
//! do it (the grammar of distribution's `reference` package).
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path-component { "/" path-component }
//! domain     := host [ ":" port ]      (first component with "." or ":", or "localhost")
//! path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest     := algorithm ":" hex      (sha256: 64 hex digits)
//! ```
//!
//! Normalisation: no domain means `docker.io`; a one-component name on
//! docker.io gets `library/`; no tag and no digest means `:latest`. So
//! `busybox` is `docker.io/library/busybox:latest`. The *familiar* form undoes
//! that for display (`busybox:latest`), like docker's `FamiliarString`.

use std::fmt;

/// The registry that names without a domain belong to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Where docker.io's API actually lives.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The tag implied when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

/// Why a reference could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference format: {0:?} is empty")]
    Empty(String),
    #[error("invalid reference format: repository name {0:?} must be lowercase")]
    Uppercase(String),
    #[error("invalid reference format: {0:?}")]
    Invalid(String),
    #[error("invalid reference format: tag {tag:?} in {reference:?}")]
    InvalidTag { reference: String, tag: String },
    #[error("invalid reference format: digest {digest:?} in {reference:?}")]
    InvalidDigest { reference: String, digest: String },
    #[error("invalid reference format: repository name {0:?} is longer than 255 characters")]
    NameTooLong(String),
}

impl ReferenceError {
    /// The message docker's client prints for this error (distribution/reference's
    /// errors, which do not name the input): `docker commit`'s check of its REPO[:TAG].
    pub fn docker_message(&self) -> &'static str {
        match self {
            ReferenceError::Uppercase(_) => {
                "invalid reference format: repository name must be lowercase"
            }
            ReferenceError::NameTooLong(_) => {
                "repository name must not be more than 255 characters"
            }
            ReferenceError::Empty(_)
            | ReferenceError::Invalid(_)
            | ReferenceError::InvalidTag { .. }
            | ReferenceError::InvalidDigest { .. } => "invalid reference format",
        }
    }
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port): `docker.io`, `127.0.0.1:5000`.
    pub domain: String,
    /// Repository path inside the registry: `library/busybox`.
    pub path: String,
    /// The tag, if any (`latest` is filled in when there is no digest).
    pub tag: Option<String>,
    /// The digest, if any: `sha256:<hex>`.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalises `input` (see the module doc).
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty(input.to_string()));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                if !valid_digest(digest) {
                    return Err(ReferenceError::InvalidDigest {
                        reference: input.to_string(),
                        digest: digest.to_string(),
                    });
                }
                (rest, Some(digest.to_string()))
            }
            None => (input, None),
        };
        // A tag follows the last ':' that comes after the last '/' (a ':'
        // before it is a port).
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (&rest[..split], Some(rest[split + 1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(tag) = &tag {
            if !valid_tag(tag) {
                return Err(ReferenceError::InvalidTag {
                    reference: input.to_string(),
                    tag: tag.clone(),
                });
            }
        }
        if name.is_empty() {
            return Err(ReferenceError::Invalid(input.to_string()));
        }
        let (domain, path) = split_domain(name);
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(input.to_string()));
        }
        if !valid_domain(&domain) || path.split('/').any(|c| !valid_path_component(c)) {
            return Err(ReferenceError::Invalid(input.to_string()));
        }
        if domain.len() + 1 + path.len() > 255 {
            return Err(ReferenceError::NameTooLong(input.to_string()));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag,
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `domain/path`: the repository's full name.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned to a digest, without a tag.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// The repository shortened for display: `busybox`, `user/app`,
    /// `127.0.0.1:5000/app`.
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.repository()
        }
    }

    /// The whole reference shortened for display: `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_repository();
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
        s
    }

    /// What the registry API calls this reference in a manifest URL: the
    /// digest when there is one, else the tag.
    pub fn object(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }

    /// The host to speak the registry API to (docker.io's lives elsewhere).
    pub fn api_host(&self) -> &str {
        registry_api_host(&self.domain)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The API host of a registry domain (docker.io's API is on another host).
pub fn registry_api_host(domain: &str) -> &str {
    if domain == DEFAULT_DOMAIN || domain == "index.docker.io" {
        DOCKER_HUB_API_HOST
    } else {
        domain
    }
}

/// Normalises a registry server name as users type it for `login`:
/// `https://index.docker.io/v1/`, `docker.io` and empty all mean docker.io.
pub fn normalize_registry_host(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or("");
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" | DEFAULT_DOMAIN => {
            DEFAULT_DOMAIN.to_string()
        }
        other => other.to_string(),
    }
}

/// The familiar form of an image record's name (`busybox:latest` for
/// `docker.io/library/busybox:latest`); a name that is not a reference (an
/// image ID) as it is.
pub fn familiar(name: &str) -> String {
    Reference::parse(name)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| name.to_string())
}

/// Whether `s` looks like an image ID or ID prefix (hex, optionally with
/// `sha256:`), which is how docker decides between an ID and a name.
pub fn looks_like_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    (domain, path)
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (domain, None),
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.starts_with('[') && host.ends_with(']') {
        return host[1..host.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    let mut need_alnum = true;
    while i < b.len() {
        if alnum(b[i]) {
            need_alnum = false;
            i += 1;
            continue;
        }
        if need_alnum {
            return false;
        }
        // A separator: ".", "_", "__" or a run of "-".
        let sep_len = match b[i] {
            b'.' => 1,
            b'_' if b.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => b[i..].iter().take_while(|&&x| x == b'-').count(),
            _ => return false,
        };
        i += sep_len;
        need_alnum = true;
    }
    !need_alnum
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

/// Whether `digest` is an OCI digest string: `sha256:` + 64 lower-case hex
/// digits, or `sha512:` + 128 (image-spec descriptor.md "Digests").
pub fn valid_digest(digest: &str) -> bool {
    let Some((alg, hex)) = digest.split_once(':') else {
        return false;
    };
    let len = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    const D: &str = "sha256:9e8f3a3f52c2b1d5a4f26a1f8f1b49d4b1d53a8f1e3a6c1f2b2a9c33c1c0b3a1";

    #[test]
    fn normalises_docker_hub_names() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            norm("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            norm("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
    }

    #[test]
    fn keeps_other_registries_and_ports() {
        assert_eq!(norm("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b:latest");
        assert_eq!(norm("localhost/bb:t"), "localhost/bb:t");
        assert_eq!(norm("localhost:5000/bb"), "localhost:5000/bb:latest");
        assert_eq!(norm("quay.io/x/y:v1.0-rc_1"), "quay.io/x/y:v1.0-rc_1");
    }

    #[test]
    fn digests_replace_the_default_tag() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.object(), D);
        let r = Reference::parse(&format!("busybox:1@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.familiar(), format!("busybox:1@{D}"));
    }

    #[test]
    fn familiar_form_undoes_normalisation() {
        assert_eq!(
            Reference::parse("busybox").unwrap().familiar(),
            "busybox:latest"
        );
        assert_eq!(
            Reference::parse("user/app:2").unwrap().familiar(),
            "user/app:2"
        );
        assert_eq!(
            Reference::parse("127.0.0.1:5000/app")
                .unwrap()
                .familiar_repository(),
            "127.0.0.1:5000/app"
        );
        assert_eq!(
            Reference::parse("busybox").unwrap().api_host(),
            DOCKER_HUB_API_HOST
        );
    }

    #[test]
    fn rejects_bad_references() {
        assert!(matches!(
            Reference::parse("BusyBox"),
            Err(ReferenceError::Uppercase(_))
        ));
        assert!(matches!(
            Reference::parse(""),
            Err(ReferenceError::Empty(_))
        ));
        assert!(Reference::parse("a//b").is_err());
        assert!(Reference::parse("a/-b").is_err());
        assert!(Reference::parse("a:").is_err());
        assert!(Reference::parse("a:-x").is_err());
        assert!(Reference::parse("a@sha256:abc").is_err());
        assert!(Reference::parse("a@md5:0123").is_err());
        assert!(Reference::parse("a b").is_err());
        assert!(Reference::parse("host:port/x").is_err());
        assert!(Reference::parse(&"a".repeat(300)).is_err());
    }

    #[test]
    fn path_components_allow_docker_separators() {
        for ok in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "0x"] {
            assert!(valid_path_component(ok), "{ok}");
        }
        for bad in ["", ".a", "a.", "a___b", "a_.b", "-a", "A"] {
            assert!(!valid_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn registry_hosts_normalise() {
        assert_eq!(
            normalize_registry_host("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(normalize_registry_host(""), "docker.io");
        assert_eq!(normalize_registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert!(looks_like_id("0123abcd"));
        assert!(!looks_like_id("busybox"));
    }
}
