//! Secret credentials: minting, checksum, hashing. A secret exists in clear only in the
//! response (or CLI output) that shows it once; everything stored is its BLAKE3 hash.

use crate::ids::{BASE62, random_base62};

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

/// A freshly minted secret with what the store keeps of it.
pub struct Minted {
    pub secret: String,
    /// Hex BLAKE3 of the secret.
    pub hash: String,
    pub prefix: String,
}

/// A new random secret: kind prefix + random base62 + base62 CRC32 of everything before it.
pub fn mint(kind: SecretKind) -> Minted {
    let mut text = String::with_capacity(3 + RANDOM_CHARS + CHECKSUM_CHARS);
    text.push_str(kind.prefix());
    text.push_str(&random_base62(RANDOM_CHARS));
    let checksum = checksum_text(&text);
    text.push_str(&checksum);
    Minted {
        hash: hex(&hash_secret(&text)),
        prefix: text.chars().take(PREFIX_CHARS).collect(),
        secret: text,
    }
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

fn checksum_text(body: &str) -> String {
    let mut value = crc32fast::hash(body.as_bytes());
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| b as char).collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_hex(text: &str) -> Option<SecretHash> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_well_formed_and_distinct() {
        let a = mint(SecretKind::ApiToken);
        let b = mint(SecretKind::ApiToken);
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("ak_"));
        assert_eq!(a.secret.len(), 3 + RANDOM_CHARS + CHECKSUM_CHARS);
        assert!(is_well_formed(SecretKind::ApiToken, &a.secret));
        assert!(!is_well_formed(SecretKind::LegacyKey, &a.secret));
        assert_eq!(a.prefix.len(), 12);
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(parse_hex(&a.hash), Some(hash_secret(&a.secret)));
    }

    #[test]
    fn any_single_character_change_breaks_the_checksum() {
        let token = mint(SecretKind::ApiToken).secret;
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
        let token = mint(SecretKind::Session).secret;
        assert_eq!(
            hash_secret(&token),
            *blake3::hash(token.as_bytes()).as_bytes()
        );
        assert_ne!(hash_secret(&token), hash_secret("other"));
    }

    #[test]
    fn hex_round_trip() {
        let hash = hash_secret("x");
        assert_eq!(parse_hex(&hex(&hash)), Some(hash));
        assert_eq!(parse_hex("zz"), None);
    }
}
