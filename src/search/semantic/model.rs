//! The binary model written by `src/search/semantic/wordllama_model.py` (its docstring is the format's
//! specification): vocabulary, ranked BPE merges and the int8 embedding table.

use std::fmt;

use super::DIM;
use crate::search::FastMap;

const MAGIC: &[u8; 4] = b"WLMA";
const VERSION: u32 = 1;
/// One embedding row: f32 scale, then `DIM` int8 values.
const ROW_BYTES: usize = 4 + DIM;

/// Why the embedded model could not be read: only a corrupt or mismatched build produces one.
#[derive(Debug, PartialEq)]
pub(super) enum ModelError {
    Truncated,
    BadMagic,
    UnsupportedVersion(u32),
    WrongDimensions(u32),
    TooManyTokens(u32),
    TokenNotUtf8(usize),
    TokenIdOutOfRange(u32),
    MissingByteToken(u8),
    TrailingBytes(usize),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => write!(f, "file is truncated"),
            Self::BadMagic => write!(f, "not a WordLlama model (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            Self::WrongDimensions(d) => write!(f, "{d} dimensions, expected {DIM}"),
            Self::TooManyTokens(n) => write!(f, "{n} tokens do not fit 16-bit ids"),
            Self::TokenNotUtf8(id) => write!(f, "token {id} is not UTF-8"),
            Self::TokenIdOutOfRange(id) => write!(f, "merge names token {id}, out of range"),
            Self::MissingByteToken(b) => write!(f, "no byte-fallback token for 0x{b:02X}"),
            Self::TrailingBytes(n) => write!(f, "{n} unexpected bytes after the table"),
        }
    }
}

/// A BPE merge of two adjacent symbols; a lower rank is applied first.
#[derive(Clone, Copy, Debug)]
pub(super) struct Merge {
    pub rank: u32,
    pub merged: u16,
}

pub(super) struct Model<'a> {
    vocab: FastMap<&'a str, u16>,
    merges: FastMap<u32, Merge>,
    /// `<0xNN>` token of each byte, for characters outside the vocabulary.
    byte_tokens: [u16; 256],
    rows: &'a [u8],
}

impl<'a> Model<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, ModelError> {
        let mut reader = Reader { bytes };
        if reader.take(4)? != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let version = reader.u32()?;
        if version != VERSION {
            return Err(ModelError::UnsupportedVersion(version));
        }
        let token_count = reader.u32()?;
        let merge_count = reader.u32()?;
        let dimensions = reader.u32()?;
        let _reserved_flags = reader.u32()?;
        if usize::try_from(dimensions).ok() != Some(DIM) {
            return Err(ModelError::WrongDimensions(dimensions));
        }
        if token_count > u32::from(u16::MAX) {
            return Err(ModelError::TooManyTokens(token_count));
        }
        let vocab = read_vocab(&mut reader, token_count)?;
        let merges = read_merges(&mut reader, merge_count, token_count)?;
        let rows = reader.take(token_count as usize * ROW_BYTES)?;
        if !reader.bytes.is_empty() {
            return Err(ModelError::TrailingBytes(reader.bytes.len()));
        }
        let byte_tokens = byte_tokens(&vocab)?;
        Ok(Model {
            vocab,
            merges,
            byte_tokens,
            rows,
        })
    }

    pub fn token(&self, piece: &str) -> Option<u16> {
        self.vocab.get(piece).copied()
    }

    pub fn byte_token(&self, byte: u8) -> u16 {
        self.byte_tokens[usize::from(byte)]
    }

    pub fn merge(&self, left: u16, right: u16) -> Option<Merge> {
        self.merges.get(&merge_key(left, right)).copied()
    }

    /// Adds the dequantised embedding row of `token` to `sum`.
    pub fn add_row(&self, token: u16, sum: &mut [f32; DIM]) {
        let start = usize::from(token) * ROW_BYTES;
        // Token ids come from this model's vocabulary and merges, all checked against the
        // table size at parse time, so the row exists.
        let Some(row) = self.rows.get(start..start + ROW_BYTES) else {
            return;
        };
        let (scale, values) = row.split_at(4);
        let scale = f32::from_le_bytes([scale[0], scale[1], scale[2], scale[3]]);
        for (acc, &byte) in sum.iter_mut().zip(values) {
            *acc += scale * f32::from(byte as i8);
        }
    }
}

fn merge_key(left: u16, right: u16) -> u32 {
    (u32::from(left) << 16) | u32::from(right)
}

fn read_vocab<'a>(
    reader: &mut Reader<'a>,
    token_count: u32,
) -> Result<FastMap<&'a str, u16>, ModelError> {
    let mut vocab = FastMap::default();
    vocab.reserve(token_count as usize);
    for id in 0..token_count as u16 {
        let length = reader.take(1)?[0];
        let piece = std::str::from_utf8(reader.take(usize::from(length))?)
            .map_err(|_| ModelError::TokenNotUtf8(usize::from(id)))?;
        vocab.insert(piece, id);
    }
    Ok(vocab)
}

fn read_merges(
    reader: &mut Reader<'_>,
    merge_count: u32,
    token_count: u32,
) -> Result<FastMap<u32, Merge>, ModelError> {
    let mut merges = FastMap::default();
    merges.reserve(merge_count as usize);
    for rank in 0..merge_count {
        let [left, right, merged] = [reader.u16()?, reader.u16()?, reader.u16()?];
        if let Some(&bad) = [left, right, merged]
            .iter()
            .find(|&&id| u32::from(id) >= token_count)
        {
            return Err(ModelError::TokenIdOutOfRange(u32::from(bad)));
        }
        merges.insert(merge_key(left, right), Merge { rank, merged });
    }
    Ok(merges)
}

fn byte_tokens(vocab: &FastMap<&str, u16>) -> Result<[u16; 256], ModelError> {
    let mut tokens = [0; 256];
    for (byte, token) in (0..=u8::MAX).zip(tokens.iter_mut()) {
        *token = *vocab
            .get(format!("<0x{byte:02X}>").as_str())
            .ok_or(ModelError::MissingByteToken(byte))?;
    }
    Ok(tokens)
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], ModelError> {
        if self.bytes.len() < count {
            return Err(ModelError::Truncated);
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(taken)
    }

    fn u16(&mut self) -> Result<u16, ModelError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}
