//! The persisted binary form of an [`AnalyzedDoc`].

use std::fmt;

use super::document::{ANALYZER_VERSION, AnalyzedDoc, Entry};
use super::lang::Lang;
use super::semantic::Packed;
use super::tokenize::MAX_TERM_BYTES;

/// Serialisation format of [`AnalyzedDoc::encode`] (independent from the
/// analyzer version so either can change alone).
/// Version 2 added the entry's language byte, version 3 its meaning vector.
pub(super) const FORMAT_V3: u8 = 3;

impl AnalyzedDoc {
    /// Compact binary form: format byte, analyzer version, language byte
    /// (0 none, 1 English, 2 French), meaning byte (0 none, 1 followed by the
    /// packed vector), length, term
    /// count, then per term (sorted) the prefix shared with the previous
    /// term, the remaining suffix bytes and `tf << 1 | tag`, all LEB128.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.text.len() / 2 + self.entries.len() * 4);
        out.push(FORMAT_V3);
        put_varint(&mut out, u64::from(ANALYZER_VERSION));
        out.push(match self.lang {
            None | Some(Lang::Both) => 0,
            Some(Lang::English) => 1,
            Some(Lang::French) => 2,
        });
        match &self.meaning {
            None => out.push(0),
            Some(meaning) => {
                out.push(1);
                meaning.write(&mut out);
            }
        }
        put_varint(&mut out, u64::from(self.length));
        put_varint(&mut out, self.entries.len() as u64);
        let mut previous = "";
        for (term, tf, tag) in self.terms() {
            let shared = previous
                .bytes()
                .zip(term.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            let suffix = term.as_bytes().get(shared..).unwrap_or_default();
            put_varint(&mut out, shared as u64);
            put_varint(&mut out, suffix.len() as u64);
            out.extend_from_slice(suffix);
            put_varint(&mut out, (u64::from(tf) << 1) | u64::from(tag));
            previous = term;
        }
        out
    }

    /// Parses [`encode`](Self::encode) output. Never panics; rejects
    /// truncated, trailing, unsorted or non-UTF-8 data, and analyses made by
    /// a different [`ANALYZER_VERSION`] (re-analyse the entry then).
    pub fn decode(bytes: &[u8]) -> Result<AnalyzedDoc, DecodeError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let format = r.byte()?;
        if format != FORMAT_V3 {
            return Err(DecodeError::UnknownFormat(format));
        }
        let version = r.varint_u32()?;
        if version != ANALYZER_VERSION {
            return Err(DecodeError::AnalyzerVersion(version));
        }
        let lang = match r.byte()? {
            0 => None,
            1 => Some(Lang::English),
            2 => Some(Lang::French),
            _ => return Err(DecodeError::Corrupt("unknown language")),
        };
        let meaning = match r.byte()? {
            0 => None,
            1 => Some(
                Packed::read(r.take(Packed::BYTES)?)
                    .ok_or(DecodeError::Corrupt("meaning vector"))?,
            ),
            _ => return Err(DecodeError::Corrupt("unknown meaning marker")),
        };
        let length = r.varint_u32()?;
        let count = r.varint_usize()?;
        // Each entry takes at least 3 bytes; checking first keeps a forged
        // count from triggering a huge allocation.
        if count > r.remaining() / 3 {
            return Err(DecodeError::Truncated);
        }
        let mut text: Vec<u8> = Vec::with_capacity(r.remaining());
        let mut entries = Vec::with_capacity(count);
        let mut previous_start = 0usize;
        for _ in 0..count {
            let shared = r.varint_usize()?;
            let suffix_len = r.varint_usize()?;
            let previous_len = text.len() - previous_start;
            if shared > previous_len {
                return Err(DecodeError::Corrupt(
                    "shared prefix longer than previous term",
                ));
            }
            let term_len = shared.saturating_add(suffix_len);
            if term_len == 0 || term_len > MAX_TERM_BYTES {
                return Err(DecodeError::Corrupt("term length out of range"));
            }
            let suffix = r.take(suffix_len)?;
            let start = text.len();
            text.extend_from_within(previous_start..previous_start + shared);
            text.extend_from_slice(suffix);
            // The terms share `shared` bytes, so order is decided by the next
            // byte (the full comparison only runs for non-canonical input).
            if !entries.is_empty() {
                let ascending = match (suffix.first(), text[previous_start..start].get(shared)) {
                    (Some(a), Some(b)) if a != b => a > b,
                    (Some(_), None) => true,
                    (None, _) => false,
                    (Some(_), Some(_)) => text[start..] > text[previous_start..start],
                };
                if !ascending {
                    return Err(DecodeError::Corrupt("terms not strictly ascending"));
                }
            }
            let packed = r.varint()?;
            let tf = u32::try_from(packed >> 1)
                .map_err(|_| DecodeError::Corrupt("term frequency overflow"))?;
            if tf == 0 {
                return Err(DecodeError::Corrupt("zero term frequency"));
            }
            let end = u32::try_from(text.len())
                .map_err(|_| DecodeError::Corrupt("document too large"))?;
            entries.push(Entry {
                end,
                tf,
                tag: packed & 1 == 1,
            });
            previous_start = start;
        }
        if r.remaining() != 0 {
            return Err(DecodeError::TrailingBytes);
        }
        let text = String::from_utf8(text).map_err(|_| DecodeError::InvalidUtf8)?;
        // Valid as a whole is not enough: every term must start and end on a
        // char boundary for `terms()` to slice it.
        if !entries
            .iter()
            .all(|e| text.is_char_boundary(e.end as usize))
        {
            return Err(DecodeError::InvalidUtf8);
        }
        Ok(AnalyzedDoc {
            text,
            entries,
            length,
            lang,
            meaning,
        })
    }
}

/// Why stored analysed terms could not be decoded. Every variant means the
/// same to the server: re-analyse the entry from its text and store it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    TrailingBytes,
    UnknownFormat(u8),
    /// Encoded by another analyzer version (carried value).
    AnalyzerVersion(u32),
    InvalidUtf8,
    Corrupt(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("analysed terms are truncated"),
            DecodeError::TrailingBytes => f.write_str("trailing bytes after analysed terms"),
            DecodeError::UnknownFormat(b) => write!(f, "unknown analysed-terms format {b}"),
            DecodeError::AnalyzerVersion(v) => write!(
                f,
                "analysed with analyzer version {v}, current is {ANALYZER_VERSION}"
            ),
            DecodeError::InvalidUtf8 => f.write_str("analysed terms are not valid UTF-8"),
            DecodeError::Corrupt(why) => write!(f, "corrupt analysed terms: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let slice = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::Corrupt("varint overflow"));
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Corrupt("varint overflow"))
    }

    fn varint_u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| DecodeError::Corrupt("value overflow"))
    }

    fn varint_usize(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(self.varint()?).map_err(|_| DecodeError::Corrupt("value overflow"))
    }
}
