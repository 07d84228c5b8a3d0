//! The order-preserving byte encoding of keys, and the byte form of values.
//!
//! An engine only ever sees bytes and compares keys as bytes (redb's `&[u8]` order,
//! PostgreSQL's `bytea` order, both plain `memcmp`). So that a range, a reverse scan or a
//! "first key after" means the same on every engine, and the same as the tuple order the
//! store was written against, a key is encoded so that comparing the encodings compares the
//! tuples component by component:
//!
//! - a string is its UTF-8 bytes with each `0x00` written `0x00 0xFF`, then the terminator
//!   `0x00 0x01`: a string sorts before every longer string it is a prefix of, and a
//!   component never bleeds into the next one;
//! - an unsigned integer is big-endian; a signed one is big-endian with its sign bit flipped,
//!   so negative numbers sort first.

use std::borrow::Cow;

/// One component of a key.
pub trait KeyPart: 'static {
    type SelfType<'a>: Copy + std::fmt::Debug;
    type Owned: std::fmt::Debug;
    fn encode(part: Self::SelfType<'_>, out: &mut Vec<u8>);
    /// Reads one component from the front of `bytes`, advancing it.
    fn decode(bytes: &mut &[u8]) -> Option<Self::Owned>;
    fn view(owned: &Self::Owned) -> Self::SelfType<'_>;
}

const ESCAPE: u8 = 0x00;
const ESCAPED_NUL: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;

impl KeyPart for &'static str {
    type SelfType<'a> = &'a str;
    type Owned = String;

    fn encode(part: &str, out: &mut Vec<u8>) {
        for &b in part.as_bytes() {
            out.push(b);
            if b == ESCAPE {
                out.push(ESCAPED_NUL);
            }
        }
        out.extend_from_slice(&[ESCAPE, TERMINATOR]);
    }

    fn decode(bytes: &mut &[u8]) -> Option<String> {
        let mut raw = Vec::new();
        let mut i = 0;
        loop {
            match *bytes.get(i)? {
                ESCAPE => match *bytes.get(i + 1)? {
                    TERMINATOR => break,
                    ESCAPED_NUL => {
                        raw.push(0);
                        i += 2;
                    }
                    _ => return None,
                },
                b => {
                    raw.push(b);
                    i += 1;
                }
            }
        }
        *bytes = &bytes[i + 2..];
        String::from_utf8(raw).ok()
    }

    fn view(owned: &String) -> &str {
        owned
    }
}

macro_rules! int_part {
    ($($t:ty => $flip:expr),* $(,)?) => {$(
        impl KeyPart for $t {
            type SelfType<'a> = $t;
            type Owned = $t;

            fn encode(part: $t, out: &mut Vec<u8>) {
                out.extend_from_slice(&(part ^ $flip).to_be_bytes());
            }

            fn decode(bytes: &mut &[u8]) -> Option<$t> {
                let (head, rest) = bytes.split_first_chunk::<{ size_of::<$t>() }>()?;
                *bytes = rest;
                Some(<$t>::from_be_bytes(*head) ^ $flip)
            }

            fn view(owned: &$t) -> $t {
                *owned
            }
        }
    )*};
}
int_part!(u32 => 0, u64 => 0, i32 => i32::MIN, i64 => i64::MIN);

/// A whole key: one component or a tuple of them.
pub trait Key: 'static {
    type SelfType<'a>: Copy + std::fmt::Debug;
    type Owned: std::fmt::Debug;
    fn encode(key: Self::SelfType<'_>, out: &mut Vec<u8>);
    fn decode(bytes: &mut &[u8]) -> Option<Self::Owned>;
    fn view(owned: &Self::Owned) -> Self::SelfType<'_>;
}

impl<A: KeyPart> Key for A {
    type SelfType<'a> = A::SelfType<'a>;
    type Owned = A::Owned;
    fn encode(key: Self::SelfType<'_>, out: &mut Vec<u8>) {
        A::encode(key, out)
    }
    fn decode(bytes: &mut &[u8]) -> Option<Self::Owned> {
        A::decode(bytes)
    }
    fn view(owned: &Self::Owned) -> Self::SelfType<'_> {
        A::view(owned)
    }
}

impl<A: KeyPart, B: KeyPart> Key for (A, B) {
    type SelfType<'a> = (A::SelfType<'a>, B::SelfType<'a>);
    type Owned = (A::Owned, B::Owned);
    fn encode(key: Self::SelfType<'_>, out: &mut Vec<u8>) {
        A::encode(key.0, out);
        B::encode(key.1, out);
    }
    fn decode(bytes: &mut &[u8]) -> Option<Self::Owned> {
        Some((A::decode(bytes)?, B::decode(bytes)?))
    }
    fn view(owned: &Self::Owned) -> Self::SelfType<'_> {
        (A::view(&owned.0), B::view(&owned.1))
    }
}

impl<A: KeyPart, B: KeyPart, C: KeyPart> Key for (A, B, C) {
    type SelfType<'a> = (A::SelfType<'a>, B::SelfType<'a>, C::SelfType<'a>);
    type Owned = (A::Owned, B::Owned, C::Owned);
    fn encode(key: Self::SelfType<'_>, out: &mut Vec<u8>) {
        A::encode(key.0, out);
        B::encode(key.1, out);
        C::encode(key.2, out);
    }
    fn decode(bytes: &mut &[u8]) -> Option<Self::Owned> {
        Some((A::decode(bytes)?, B::decode(bytes)?, C::decode(bytes)?))
    }
    fn view(owned: &Self::Owned) -> Self::SelfType<'_> {
        (A::view(&owned.0), B::view(&owned.1), C::view(&owned.2))
    }
}

/// The encoding of `key`.
pub fn encode_key<K: Key>(key: K::SelfType<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    K::encode(key, &mut out);
    out
}

/// The key `bytes` encode, if they encode exactly one.
pub fn decode_key<K: Key>(mut bytes: &[u8]) -> Option<K::Owned> {
    let key = K::decode(&mut bytes)?;
    bytes.is_empty().then_some(key)
}

/// The tenant of a key whose first component is the tenant's slug.
pub fn leading_str(mut bytes: &[u8]) -> Option<String> {
    <&str as KeyPart>::decode(&mut bytes)
}

/// How a value is kept: JSON and binary rows as they are, counters as 8 bytes.
pub trait Value: 'static {
    type SelfType<'a>: std::fmt::Debug;
    type Owned;
    fn bytes<'b>(value: &'b Self::SelfType<'_>) -> Cow<'b, [u8]>;
    fn decode(bytes: Vec<u8>) -> Option<Self::Owned>;
    fn view(owned: &Self::Owned) -> Self::SelfType<'_>;
}

impl Value for &'static [u8] {
    type SelfType<'a> = &'a [u8];
    type Owned = Vec<u8>;
    fn bytes<'b>(value: &'b &[u8]) -> Cow<'b, [u8]> {
        Cow::Borrowed(value)
    }
    fn decode(bytes: Vec<u8>) -> Option<Vec<u8>> {
        Some(bytes)
    }
    fn view(owned: &Vec<u8>) -> &[u8] {
        owned
    }
}

impl Value for &'static str {
    type SelfType<'a> = &'a str;
    type Owned = String;
    fn bytes<'b>(value: &'b &str) -> Cow<'b, [u8]> {
        Cow::Borrowed(value.as_bytes())
    }
    fn decode(bytes: Vec<u8>) -> Option<String> {
        String::from_utf8(bytes).ok()
    }
    fn view(owned: &String) -> &str {
        owned
    }
}

/// Little-endian, as redb kept it, so the migration copies counters byte for byte.
impl Value for u64 {
    type SelfType<'a> = u64;
    type Owned = u64;
    fn bytes<'b>(value: &'b u64) -> Cow<'b, [u8]> {
        Cow::Owned(value.to_le_bytes().to_vec())
    }
    fn decode(bytes: Vec<u8>) -> Option<u64> {
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }
    fn view(owned: &u64) -> u64 {
        *owned
    }
}

impl Value for () {
    type SelfType<'a> = ();
    type Owned = ();
    fn bytes<'b>(_: &'b ()) -> Cow<'b, [u8]> {
        Cow::Borrowed(&[])
    }
    fn decode(bytes: Vec<u8>) -> Option<()> {
        bytes.is_empty().then_some(())
    }
    fn view(_: &()) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: &str, b: &str) -> Vec<u8> {
        encode_key::<(&str, &str)>((a, b))
    }

    #[test]
    fn string_tuples_sort_like_the_tuples() {
        let keys = [
            ("", ""),
            ("", "a"),
            ("a", ""),
            ("a", "\0"),
            ("a", "\0\0"),
            ("a", "\u{1}"),
            ("a", "b"),
            ("a\0", ""),
            ("a\u{1}", ""),
            ("ab", ""),
            ("b", "\u{10FFFF}"),
        ];
        for w in keys.windows(2) {
            assert!(w[0] < w[1]);
            assert!(pair(w[0].0, w[0].1) < pair(w[1].0, w[1].1), "{w:?}");
        }
        for (a, b) in keys {
            let decoded = decode_key::<(&str, &str)>(&pair(a, b)).unwrap();
            assert_eq!((decoded.0.as_str(), decoded.1.as_str()), (a, b));
            assert_eq!(leading_str(&pair(a, b)).unwrap(), a);
        }
    }

    #[test]
    fn integers_sort_like_the_integers() {
        let ints = [i64::MIN, -2, -1, 0, 1, 255, 256, i64::MAX];
        for w in ints.windows(2) {
            let a = encode_key::<(&str, i64, &str)>(("t", w[0], "x"));
            let b = encode_key::<(&str, i64, &str)>(("t", w[1], ""));
            assert!(a < b, "{w:?}");
        }
        for n in ints {
            let k = encode_key::<(i64, &str, &str)>((n, "t", "id"));
            assert_eq!(decode_key::<(i64, &str, &str)>(&k).unwrap().0, n);
        }
        let small = [i32::MIN, -1, 0, i32::MAX];
        for w in small.windows(2) {
            assert!(encode_key::<i32>(w[0]) < encode_key::<i32>(w[1]));
        }
        assert!(encode_key::<(&str, u32)>(("c", 9)) < encode_key::<(&str, u32)>(("c", 10)));
        assert!(decode_key::<&str>(&pair("a", "b")).is_none());
    }
}
