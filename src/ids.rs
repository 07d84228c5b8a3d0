//! Public record identifiers such as `corp_...` or `tok_...`: random, so they are unique
//! across processes and machines without coordination (and never secrets).

use rand::RngExt;

pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// 20 base62 characters: 119 random bits.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_base62(20))
}

pub fn random_base62(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let (a, b) = (super::new_id("corp_"), super::new_id("corp_"));
        assert!(a.starts_with("corp_") && a.len() == 25);
        assert_ne!(a, b);
    }
}
