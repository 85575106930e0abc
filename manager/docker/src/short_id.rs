//! Short IDs: docker shows image and container IDs (`sha256:<64 hex>` or 64
//! hex) as their first twelve hex digits, in tables, progress lines and
//! messages; the CLI and berthd print the same short form.

/// The 12-hex-digit short form of an ID (a `sha256:` prefix dropped).
pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_hex_digits_without_the_algorithm() {
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(short_id(&format!("sha256:{hex}")), "0123456789ab");
        assert_eq!(short_id(hex), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
