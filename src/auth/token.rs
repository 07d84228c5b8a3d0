//! Secret credentials: minting, checksum, hashing. A secret exists in clear only in the
//! response (or CLI output) that shows it once; everything stored is its BLAKE3 hash.

use rand::RngExt;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 32 base62 characters carry 190 bits of randomness (the contract asks for >= 178).
const RANDOM_CHARS: usize = 32;
/// CRC32 fits in 6 base62 characters (62^6 > 2^32).
const CHECKSUM_CHARS: usize = 6;
/// How many leading characters of a token are shown in listings.
pub const PREFIX_CHARS: usize = 12;

/// The kinds of secret animam mints; each has its own text prefix so a leaked string says
/// what it is (and secret scanners can match it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    ApiToken,
    LegacyKey,
    Session,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::ApiToken => "ak_",
            SecretKind::LegacyKey => "lk_",
            SecretKind::Session => "as_",
        }
    }
}

/// BLAKE3 of a secret: the only form in which secrets are stored or compared.
pub type SecretHash = [u8; 32];

pub fn hash_secret(secret: &str) -> SecretHash {
    *blake3::hash(secret.as_bytes()).as_bytes()
}

/// A new random secret: kind prefix + random base62 + base62 CRC32 of everything before it.
pub fn mint(kind: SecretKind) -> String {
    let mut text = String::with_capacity(3 + RANDOM_CHARS + CHECKSUM_CHARS);
    text.push_str(kind.prefix());
    text.push_str(&random_base62(RANDOM_CHARS));
    let checksum = checksum_text(&text);
    text.push_str(&checksum);
    text
}

/// True when `text` has the shape of a secret of `kind` and its checksum matches. Lets the
/// server reject typos and junk without touching storage.
pub fn is_well_formed(kind: SecretKind, text: &str) -> bool {
    let Some(rest) = text.strip_prefix(kind.prefix()) else {
        return false;
    };
    if rest.len() != RANDOM_CHARS + CHECKSUM_CHARS
        || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let (body, checksum) = text.split_at(text.len() - CHECKSUM_CHARS);
    checksum_text(body) == checksum
}

/// The part of a token shown in listings so a person can recognise it.
pub fn display_prefix(token: &str) -> String {
    token.chars().take(PREFIX_CHARS).collect()
}

/// A random public identifier such as `tok_...` or `corp_...` (not a secret).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_base62(20))
}

fn random_base62(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect()
}

fn checksum_text(body: &str) -> String {
    let mut value = crc32fast::hash(body.as_bytes());
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_well_formed_and_distinct() {
        let a = mint(SecretKind::ApiToken);
        let b = mint(SecretKind::ApiToken);
        assert_ne!(a, b);
        assert!(a.starts_with("ak_"));
        assert_eq!(a.len(), 3 + RANDOM_CHARS + CHECKSUM_CHARS);
        assert!(is_well_formed(SecretKind::ApiToken, &a));
        assert!(!is_well_formed(SecretKind::LegacyKey, &a));
        assert_eq!(display_prefix(&a).len(), 12);
        assert!(a.starts_with(&display_prefix(&a)));
    }

    #[test]
    fn any_single_character_change_breaks_the_checksum() {
        let token = mint(SecretKind::ApiToken);
        for i in 3..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(!is_well_formed(SecretKind::ApiToken, &changed), "{changed}");
        }
    }

    #[test]
    fn junk_is_rejected() {
        for junk in [
            "",
            "ak_",
            "ak_short",
            "Bearer",
            "ak_ééééééééééééééééééééééééééééééééééééé",
        ] {
            assert!(!is_well_formed(SecretKind::ApiToken, junk));
        }
    }

    #[test]
    fn hash_is_blake3_of_the_text() {
        let token = mint(SecretKind::Session);
        assert_eq!(
            hash_secret(&token),
            *blake3::hash(token.as_bytes()).as_bytes()
        );
        assert_ne!(hash_secret(&token), hash_secret("other"));
    }
}
