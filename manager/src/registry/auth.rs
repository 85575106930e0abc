//! Registry authentication: `WWW-Authenticate` challenges (RFC 7235) and the
//! Docker token protocol (distribution's docs/spec/auth/token.md and
//! oauth.md). A registry answers 401 with either `Basic realm=...` (send the
//! user's credentials on every request) or `Bearer realm=...,service=...,
//! scope=...` (fetch a short-lived token from `realm`, anonymously or with the
//! credentials, and send it as `Authorization: Bearer`).

use base64::Engine;
use std::collections::BTreeMap;

/// Credentials for one registry, as `berth login` stored them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth2 refresh token (docker config.json's `identitytoken`).
    pub identity_token: String,
}

impl Credentials {
    /// Whether there is anything to authenticate with.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.identity_token.is_empty()
    }

    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// One parsed authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`.
    Basic,
    /// `Bearer realm="...",service="...",scope="..."`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value. Only the first challenge is
/// read (registries send one); parameters are `key=value` or
/// `key="quoted value"` separated by commas (RFC 7235 section 2.1).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b',' || b[i] == b' ') {
            i += 1;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        let key = s[key_start..i].trim().to_ascii_lowercase();
        if i >= b.len() {
            break;
        }
        i += 1; // '='
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                v.push(b[i] as char);
                i += 1;
            }
            i += 1; // closing quote
            v
        } else {
            let start = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            s[start..i].trim().to_string()
        };
        out.insert(key, value);
    }
    out
}

/// The token endpoint's JSON answer (token.md "Token Response Fields"):
/// `token` and `access_token` are synonyms.
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// The bearer token, whichever field carried it.
    pub fn bearer(&self) -> Option<&str> {
        self.token
            .as_deref()
            .filter(|t| !t.is_empty())
            .or(self.access_token.as_deref().filter(|t| !t.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn parses_unquoted_and_escaped_params() {
        let p = parse_params(r#"realm=http://a/t, service="s\"q", scope="a:b:pull,push""#);
        assert_eq!(p["realm"], "http://a/t");
        assert_eq!(p["service"], "s\"q");
        assert_eq!(p["scope"], "a:b:pull,push");
    }

    #[test]
    fn basic_header_is_base64() {
        let c = Credentials {
            username: "u".into(),
            password: "p".into(),
            identity_token: String::new(),
        };
        assert_eq!(c.basic_header(), "Basic dTpw");
    }
}
