//! Public record identifiers such as `corp_...` or `tok_...` (never secrets).
//!
//! An id is 9 base62 characters of the creation instant (microseconds, most significant
//! first) followed by 11 random ones (65 bits). The random part makes ids unique across
//! processes and machines without coordination; the time part makes ids created later sort
//! later, so new rows land at the end of the store's B-trees instead of on a random page
//! each: a batch of writes then dirties a handful of pages, not one per row.

use rand::RngExt;

use crate::clock::Timestamp;

pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TIME_CHARS: usize = 9;
const RANDOM_CHARS: usize = 11;

pub fn new_id(prefix: &str) -> String {
    new_id_at(prefix, Timestamp::now())
}

/// An id whose time part is `at`: ids made from strictly increasing instants sort in that
/// order.
pub fn new_id_at(prefix: &str, at: Timestamp) -> String {
    let mut id = String::with_capacity(prefix.len() + TIME_CHARS + RANDOM_CHARS);
    id.push_str(prefix);
    // 62^9 > 2^53: microseconds since 1970 fit until long after the year 2400.
    let mut micros = at.micros().max(0) as u64;
    let mut digits = [b'0'; TIME_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(micros % 62) as usize];
        micros /= 62;
    }
    id.extend(digits.iter().map(|&b| b as char));
    id.push_str(&random_base62(RANDOM_CHARS));
    id
}

pub fn random_base62(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let (a, b) = (new_id("corp_"), new_id("corp_"));
        assert!(a.starts_with("corp_") && a.len() == 25, "{a}");
        assert!(a[5..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn later_ids_sort_later() {
        let early = new_id_at("x_", Timestamp::from_micros(1_700_000_000_000_000));
        let later = new_id_at("x_", Timestamp::from_micros(1_700_000_000_000_001));
        let much_later = new_id_at("x_", Timestamp::from_micros(2_000_000_000_000_000));
        assert!(
            early < later && later < much_later,
            "{early} {later} {much_later}"
        );
    }
}
