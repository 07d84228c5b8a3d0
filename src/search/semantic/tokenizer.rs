//! The Llama 2 BPE tokenizer exactly as HF `tokenizers` runs WordLlama's config: normalise
//! (prepend "▁", every " " becomes "▁"), start from characters (a character outside the
//! vocabulary becomes its UTF-8 bytes' `<0xNN>` tokens), then apply merges lowest rank first,
//! leftmost on ties. No pre-tokenizer, no lowercasing, no special tokens.
//!
//! The config has no pre-tokenizer, so HF merges over the whole string. We split it into
//! words instead, each a run of "▁" then the characters up to the next "▁": no vocabulary
//! token has a "▁" after any other character, so no merge can cross such a boundary and the
//! ids are identical (the fixture test checks this against HF; so did a one-off comparison on
//! 1,401 paragraphs of this repository's docs and sources: no difference), while words can be
//! cached.
//!
//! The one deliberate difference: a word longer than [`MAX_BPE_BYTES`] (a long URL, base64,
//! unspaced CJK text) is cut into pieces of at most that size before BPE, because merging is
//! quadratic in the word's length and the text may come from anyone. Ids can then differ from
//! HF at the cuts, which moves a long text's mean embedding negligibly.

use std::cell::RefCell;

use super::model::{Merge, Model};
use crate::search::{FastMap, byte_prefix};

const WORD_BOUNDARY: char = '▁';

/// Distinct words remembered per thread; with [`MAX_CACHED_WORD_BYTES`], a few MiB at most.
const WORD_CACHE_WORDS: usize = 16_384;

/// Longer words are rare (so seldom repeated) and would make the cache's size unbounded.
const MAX_CACHED_WORD_BYTES: usize = 64;

/// Longest piece of a word BPE runs on; see the module documentation.
const MAX_BPE_BYTES: usize = 256;

thread_local! {
    /// Word -> token ids. Word frequencies follow Zipf's law, so most words of a text are
    /// repeats of a few thousand; cleared when full rather than evicting one by one, as the
    /// frequent words come straight back.
    static WORD_TOKENS: RefCell<FastMap<Box<str>, Box<[u16]>>> = RefCell::default();
}

/// Calls `f` with each token id of `text`, in order.
pub(super) fn for_each_token(model: &Model<'_>, text: &str, mut f: impl FnMut(u16)) {
    if text.is_empty() {
        return;
    }
    let normalised: String = std::iter::once(WORD_BOUNDARY)
        .chain(
            text.chars()
                .map(|c| if c == ' ' { WORD_BOUNDARY } else { c }),
        )
        .collect();
    WORD_TOKENS.with_borrow_mut(|cache| {
        for piece in words(&normalised).flat_map(bpe_pieces) {
            if let Some(known) = cache.get(piece) {
                known.iter().for_each(|&id| f(id));
                continue;
            }
            let ids = bpe(model, piece);
            ids.iter().for_each(|&id| f(id));
            if piece.len() <= MAX_CACHED_WORD_BYTES {
                if cache.len() >= WORD_CACHE_WORDS {
                    cache.clear();
                }
                cache.insert(piece.into(), ids.into_boxed_slice());
            }
        }
    });
}

/// `word` cut at character boundaries into pieces of at most [`MAX_BPE_BYTES`].
fn bpe_pieces(word: &str) -> impl Iterator<Item = &str> {
    let mut rest = word;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let piece = byte_prefix(rest, MAX_BPE_BYTES);
        rest = &rest[piece.len()..];
        Some(piece)
    })
}

/// Splits before every "▁" that follows another character.
fn words(normalised: &str) -> impl Iterator<Item = &str> {
    let mut rest = normalised;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let body_start = rest.find(|c| c != WORD_BOUNDARY).unwrap_or(rest.len());
        let end = rest[body_start..]
            .find(WORD_BOUNDARY)
            .map_or(rest.len(), |offset| body_start + offset);
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

fn bpe(model: &Model<'_>, word: &str) -> Vec<u16> {
    let mut symbols = initial_symbols(model, word);
    // merges[i] joins symbols[i] and symbols[i + 1], kept in step with symbols so each step
    // scans a small vector instead of hashing every pair again.
    let mut merges: Vec<Option<Merge>> = symbols
        .windows(2)
        .map(|pair| model.merge(pair[0], pair[1]))
        .collect();
    // min_by_key keeps the first minimum: leftmost on ties, as HF does.
    while let Some((at, merge)) = merges
        .iter()
        .enumerate()
        .filter_map(|(at, merge)| Some((at, (*merge)?)))
        .min_by_key(|(_, merge)| merge.rank)
    {
        symbols[at] = merge.merged;
        symbols.remove(at + 1);
        merges.remove(at);
        if at > 0 {
            merges[at - 1] = model.merge(symbols[at - 1], symbols[at]);
        }
        if at < merges.len() {
            merges[at] = model.merge(symbols[at], symbols[at + 1]);
        }
    }
    symbols
}

fn initial_symbols(model: &Model<'_>, word: &str) -> Vec<u16> {
    let mut symbols = Vec::with_capacity(word.len());
    let mut utf8 = [0; 4];
    for c in word.chars() {
        let piece = c.encode_utf8(&mut utf8);
        match model.token(piece) {
            Some(id) => symbols.push(id),
            None => symbols.extend(piece.bytes().map(|b| model.byte_token(b))),
        }
    }
    symbols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_before_each_boundary_run() {
        let split: Vec<&str> = words("▁a▁▁b▁c▁▁").collect();
        assert_eq!(split, ["▁a", "▁▁b", "▁c", "▁▁"]);
        assert_eq!(words("▁▁▁").collect::<Vec<_>>(), ["▁▁▁"]);
        assert_eq!(words("x▁y").collect::<Vec<_>>(), ["x", "▁y"]);
    }

    #[test]
    fn long_words_are_cut_at_character_boundaries() {
        let word = "é".repeat(MAX_BPE_BYTES);
        let pieces: Vec<&str> = bpe_pieces(&word).collect();
        assert_eq!(pieces.concat(), word);
        assert!(
            pieces
                .iter()
                .all(|p| p.len() <= MAX_BPE_BYTES && !p.is_empty())
        );
        assert_eq!(pieces.len(), 2);
        assert_eq!(bpe_pieces("▁short").collect::<Vec<_>>(), ["▁short"]);
    }
}
