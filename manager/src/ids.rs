//! Random identifiers: container, network and endpoint ids (64 hex digits,
//! docker's form) and the short random parts of exec ids, lease and ingest
//! names. From getrandom(2); should it ever fail, a mix of the clock and
//! the pid keeps ids unique enough for one daemon.

/// `N` random bytes as lower-case hex.
fn random_hex_of<const N: usize>() -> String {
    let mut buf = [0u8; N];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        let seed = crate::events::now_nanos() as u64 ^ (std::process::id() as u64) << 32;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 * 7) >> (i % 8)) as u8;
        }
    }
    berth_docker::manifest::hex(&buf)
}

/// A new object id: 64 random hex digits.
pub fn new_id() -> String {
    random_hex_of::<32>()
}

/// 16 random hex digits, for names that only need to be unique.
pub fn random_hex() -> String {
    random_hex_of::<8>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_of_their_length_and_differ() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_id());
        assert_eq!(random_hex().len(), 16);
        assert_ne!(random_hex(), random_hex());
    }
}
