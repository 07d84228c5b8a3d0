//! Text analysis shared by indexing, querying and passage extraction.
//!
//! Pipeline per token: NFKC (so ligatures, full-width forms and decomposed
//! accents tokenise like their plain forms) -> split on non-alphanumerics ->
//! lowercase -> stopword removal -> Snowball stem -> diacritic folding.
//! Stemming runs before folding because the French stemmer relies on accents
//! (e.g. "é" is a vowel for it); folding afterwards lets "cafe" meet "café".

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;

use frostem::Stemmer;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::FastMap;
use super::lang::Lang;

/// Longer "words" are almost always hashes, base64 or URLs; indexing them
/// only bloats the dictionary.
const MAX_TOKEN_CHARS: usize = 48;
/// Hard limit on a term's UTF-8 length; also bounds what `decode` accepts.
pub(crate) const MAX_TERM_BYTES: usize = 512;

/// The longest prefix of `text` of at most `max_bytes` that ends on a character boundary:
/// the bounded sample of a long text that language detection, the meaning vector and BPE read.
pub fn byte_prefix(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

pub(crate) fn is_token_char(c: char) -> bool {
    // Combining marks left after NFKC (no precomposed form) must not split a
    // word in two.
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Calls `f` with every lowercased token of `text` (2..=48 chars).
/// Apostrophes split words, so "l'assurance" yields only "assurance".
pub(crate) fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let normalized: Cow<'_, str> = if text.is_ascii() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    };
    let mut buf = String::new();
    for piece in normalized.split(|c: char| !is_token_char(c)) {
        if piece.is_empty() {
            continue;
        }
        let ascii = piece.is_ascii();
        let chars = if ascii {
            piece.len()
        } else {
            piece.chars().count()
        };
        if !(2..=MAX_TOKEN_CHARS).contains(&chars) {
            continue;
        }
        buf.clear();
        if ascii {
            buf.push_str(piece);
            buf.make_ascii_lowercase();
        } else {
            buf.extend(piece.chars().flat_map(char::to_lowercase));
        }
        f(&buf);
    }
}

/// Removes diacritics (NFD + drop combining marks) and expands the letters
/// NFD leaves alone but people commonly type in ASCII ("cœur" -> "coeur").
pub(crate) fn fold(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            'þ' => out.push_str("th"),
            'ø' => out.push('o'),
            'ł' => out.push('l'),
            'đ' | 'ð' => out.push('d'),
            'ı' => out.push('i'),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn push_unique(out: &mut Vec<String>, term: Cow<'_, str>) {
    if !term.is_empty() && term.len() <= MAX_TERM_BYTES && !out.iter().any(|t| *t == *term) {
        out.push(term.into_owned());
    }
}

/// Distinct tokens remembered per thread by [`token_variants`]; about 4 MiB at most.
const VARIANT_CACHE_TOKENS: usize = 32_768;

type VariantCache = FastMap<Box<str>, Box<[Box<str>]>>;

thread_local! {
    /// Each language's token -> variants. Word frequencies follow Zipf's law, so most tokens
    /// of a text are repeats of a few thousand words: stemming was a quarter of an import's
    /// time before this cache. Cleared when full rather than evicting one by one: the
    /// frequent words come straight back.
    static VARIANTS: RefCell<[VariantCache; 3]> = RefCell::default();
}

/// Replaces `out` with the distinct terms a (lowercase, non-stopword) token
/// is indexed under for a text of `lang`.
///
/// Besides fold(stem(token)) an accented token also yields
/// fold(stem(fold(token))): the stemmers treat accented letters differently
/// (English keeps "élève" whole but reduces "eleve" to "elev"), so this is
/// what guarantees that an unaccented query meets an accented document and
/// vice versa. Queries use `Lang::Both`, which is a superset of every
/// document language's variants.
pub(crate) fn token_variants(token: &str, lang: Lang, out: &mut Vec<String>) {
    out.clear();
    for_each_variant(token, lang, |v| out.push(v.to_owned()));
}

/// Calls `f` with each of [`token_variants`], without allocating when the token is cached.
pub(crate) fn for_each_variant(token: &str, lang: Lang, mut f: impl FnMut(&str)) {
    let slot = match lang {
        Lang::English => 0,
        Lang::French => 1,
        Lang::Both => 2,
    };
    VARIANTS.with_borrow_mut(|caches| {
        let cache = &mut caches[slot];
        if let Some(known) = cache.get(token) {
            known.iter().for_each(|v| f(v));
            return;
        }
        let mut variants = Vec::new();
        stem_variants(token, lang, &mut variants);
        variants.iter().for_each(|v| f(v));
        if cache.len() >= VARIANT_CACHE_TOKENS {
            cache.clear();
        }
        cache.insert(
            token.into(),
            variants.into_iter().map(String::into_boxed_str).collect(),
        );
    });
}

fn stem_variants(token: &str, lang: Lang, out: &mut Vec<String>) {
    let folded = fold(token);
    for &algorithm in lang.algorithms() {
        let stemmer = Stemmer::new(algorithm);
        let stem = stemmer.stem(token);
        push_unique(out, fold(&stem));
        if folded != token {
            let stem = stemmer.stem(&folded);
            push_unique(out, fold(&stem));
        }
    }
}

/// Calls `f` once with each stem (both languages, folded) of the words one edit (delete,
/// swap of neighbours, substitute or insert a letter a-z) from `word`, its own stems
/// excepted, its first letter kept as the typo search keeps it. A typo can keep the suffix
/// the correct spelling loses: "diffrence" stems to "diffrenc", "difference" to "differ",
/// three edits apart though the words are one apart. Meilisearch's rule counts edits on
/// words, so this finds what the stems alone cannot. About 55 words per letter of `word`,
/// each stemmed twice: kept for words absent from the corpus.
pub(crate) fn for_each_one_edit_stem(word: &str, mut f: impl FnMut(&str)) {
    let letters: Vec<char> = fold(word).chars().collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut own = Vec::new();
    stem_variants(word, Lang::Both, &mut own);
    seen.extend(own);
    let mut edited = String::with_capacity(word.len() + 1);
    let mut stems = Vec::new();
    let mut visit = |edited: &str| {
        stems.clear();
        stem_variants(edited, Lang::Both, &mut stems);
        for stem in stems.drain(..) {
            if !seen.contains(&stem) {
                f(&stem);
                seen.insert(stem);
            }
        }
    };
    let with = |edited: &mut String, parts: &[&[char]]| {
        edited.clear();
        parts.iter().for_each(|p| edited.extend(p.iter()));
    };
    for i in 1..letters.len() {
        with(&mut edited, &[&letters[..i], &letters[i + 1..]]);
        visit(&edited);
        if i + 1 < letters.len() {
            let swapped = [letters[i + 1], letters[i]];
            with(&mut edited, &[&letters[..i], &swapped, &letters[i + 2..]]);
            visit(&edited);
        }
    }
    for i in 1..=letters.len() {
        for c in 'a'..='z' {
            // Inserting the letter already there is inserting it after that one.
            if letters.get(i) != Some(&c) {
                with(&mut edited, &[&letters[..i], &[c], &letters[i..]]);
                visit(&edited);
            }
            if i < letters.len() && letters[i] != c {
                with(&mut edited, &[&letters[..i], &[c], &letters[i + 1..]]);
                visit(&edited);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variants(token: &str, lang: Lang) -> Vec<String> {
        let mut out = Vec::new();
        token_variants(token, lang, &mut out);
        out
    }

    /// What lets a passage skip the words whose first letter starts no variant of the question.
    #[test]
    fn the_variants_of_an_ascii_word_start_with_its_first_letter() {
        // The stemmers' special cases and irregular forms, and everyday words of both languages.
        let words = [
            "dying",
            "lying",
            "tying",
            "skies",
            "skis",
            "idly",
            "gently",
            "ugly",
            "early",
            "only",
            "singly",
            "news",
            "howe",
            "atlas",
            "cosmos",
            "bias",
            "andes",
            "innings",
            "outing",
            "canning",
            "herring",
            "earring",
            "proceed",
            "exceed",
            "succeed",
            "generate",
            "communism",
            "arsenal",
            "yes",
            "youth",
            "yielding",
            "eyes",
            "ies",
            "aed",
            "ying",
            "refunds",
            "running",
            "deliveries",
            "sundays",
            "configuration",
            "configure",
            "yeux",
            "aient",
            "ils",
            "ieux",
            "quand",
            "remboursement",
            "livraisons",
            "ouvert",
            "heures",
            "etaient",
            "uniquement",
            "yaourts",
            "eux",
            "ainsi",
            "indiquer",
            "umask",
            "x11",
            "2024",
            "a1b2",
            "zzz",
            "qu",
            "ieee",
        ];
        for word in words {
            for lang in [Lang::English, Lang::French, Lang::Both] {
                for variant in variants(word, lang) {
                    assert_eq!(variant.as_bytes()[0], word.as_bytes()[0], "{word} {lang:?}");
                }
            }
        }
    }

    #[test]
    fn cached_variants_are_the_stemmed_ones_in_every_language_and_past_a_clear() {
        let words = ["refunds", "élèves", "remboursement", "cafés", "running"];
        for round in 0..2 {
            for lang in [Lang::English, Lang::French, Lang::Both] {
                for word in words {
                    let mut direct = Vec::new();
                    stem_variants(word, lang, &mut direct);
                    assert_eq!(
                        variants(word, lang),
                        direct,
                        "{word} {lang:?} round {round}"
                    );
                }
            }
        }
        assert_eq!(variants("refunds", Lang::English), ["refund"]);
        assert_ne!(
            variants("élèves", Lang::English),
            variants("élèves", Lang::French),
            "each language has its own cache"
        );
        // Fill the cache past its size: it starts over and still answers right.
        for n in 0..VARIANT_CACHE_TOKENS + 10 {
            variants(&format!("word{n}s"), Lang::English);
        }
        assert_eq!(variants("refunds", Lang::English), ["refund"]);
        VARIANTS.with_borrow(|caches| assert!(caches[0].len() <= VARIANT_CACHE_TOKENS));
    }
}
