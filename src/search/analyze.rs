//! Text analysis shared by indexing, querying and passage extraction.
//!
//! Pipeline per token: NFKC (so ligatures, full-width forms and decomposed
//! accents tokenise like their plain forms) -> split on non-alphanumerics ->
//! lowercase -> stopword removal -> Snowball stem -> diacritic folding.
//! Stemming runs before folding because the French stemmer relies on accents
//! (e.g. "é" is a vowel for it); folding afterwards lets "cafe" meet "café".

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use frostem::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::stopwords::{IN_ENGLISH, IN_FRENCH, lists};

/// Version of the tokenising/stemming/folding rules. Stored analyses made with
/// another version are rejected by [`AnalyzedDoc::decode`] so the server
/// re-analyses them instead of mixing incompatible terms in one index.
pub const ANALYZER_VERSION: u32 = 1;

/// Upper bound on distinct terms kept from one query: a chat message can be
/// 15,000 chars and scoring cost grows with every term.
pub const MAX_QUERY_TERMS: usize = 32;

/// Longer "words" are almost always hashes, base64 or URLs; indexing them
/// only bloats the dictionary.
const MAX_TOKEN_CHARS: usize = 48;
/// Hard limit on a term's UTF-8 length; also bounds what `decode` accepts.
const MAX_TERM_BYTES: usize = 512;

const TITLE_WEIGHT: u32 = 3;
const TAG_WEIGHT: u32 = 2;
const CONTENT_WEIGHT: u32 = 1;

/// Serialisation format of [`AnalyzedDoc::encode`] (independent from the
/// analyzer version so either can change alone).
const FORMAT_V1: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    English,
    French,
    /// Not enough evidence (short text) or genuinely mixed: stem with both
    /// stemmers and drop only words that are stopwords in both languages, so
    /// e.g. "comment" in an English title is not lost.
    Both,
}

impl Lang {
    fn algorithms(self) -> &'static [Algorithm] {
        match self {
            Lang::English => &[Algorithm::English],
            Lang::French => &[Algorithm::French],
            Lang::Both => &[Algorithm::English, Algorithm::French],
        }
    }

    pub(crate) fn is_stopword(self, token: &str) -> bool {
        let lists = lists(token);
        match self {
            Lang::English => lists & IN_ENGLISH != 0,
            Lang::French => lists & IN_FRENCH != 0,
            Lang::Both => lists == IN_ENGLISH | IN_FRENCH,
        }
    }
}

/// Stopword counts used to guess the language of a text. Words present in
/// both lists ("on", "me", "as") carry no evidence and are not counted.
#[derive(Default)]
pub(crate) struct LangVotes {
    english: usize,
    french: usize,
}

impl LangVotes {
    pub(crate) fn add(&mut self, token: &str, count: usize) {
        match lists(token) {
            IN_ENGLISH => self.english += count,
            IN_FRENCH => self.french += count,
            _ => {}
        }
    }

    /// A language wins only with at least two votes and twice the votes of
    /// the other, so a stray "comment" or "the" does not flip a text.
    pub(crate) fn lang(&self) -> Lang {
        if self.english >= 2 && self.english > 2 * self.french {
            Lang::English
        } else if self.french >= 2 && self.french > 2 * self.english {
            Lang::French
        } else {
            Lang::Both
        }
    }
}

pub(crate) fn detect_lang(text: &str) -> Lang {
    let mut votes = LangVotes::default();
    for_each_token(text, |t| votes.add(t, 1));
    votes.lang()
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

/// One query position: the alternative terms it may match (its stems under
/// both languages) and whether it is a stopword in either language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTerm {
    variants: Vec<String>,
    stopword: bool,
}

impl QueryTerm {
    /// Distinct, sorted index terms; a document matches this position if it
    /// contains any of them (scored with the best one, never summed).
    pub fn variants(&self) -> &[String] {
        &self.variants
    }

    /// Stopword positions ("comment", "the") never make a document a hit on
    /// their own unless the query has nothing else; they only refine ranking
    /// of documents where the word was indexed as a content word.
    pub fn is_stopword(&self) -> bool {
        self.stopword
    }
}

/// An analysed search query (see [`analyze_query`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    terms: Vec<QueryTerm>,
}

impl Query {
    pub fn terms(&self) -> &[QueryTerm] {
        &self.terms
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

struct QueryCandidate {
    count: u32,
    first: u32,
    stopword: bool,
    longest: usize,
}

/// Analyses free text (a search box or a whole chat message) into at most
/// [`MAX_QUERY_TERMS`] positions. The query language is not guessed: each
/// word is stemmed with both stemmers because short queries carry no
/// evidence and the tenant's documents may be in either language. When the
/// text has more distinct words than the cap, content words beat stopwords,
/// then repeated words beat single ones, then longer (more specific) words.
pub fn analyze_query(text: &str) -> Query {
    let mut tokens: HashMap<String, (u32, u32)> = HashMap::new();
    let mut position = 0u32;
    for_each_token(text, |t| {
        if lists(t) == IN_ENGLISH | IN_FRENCH {
            return;
        }
        if let Some(entry) = tokens.get_mut(t) {
            entry.0 = entry.0.saturating_add(1);
        } else {
            tokens.insert(t.to_owned(), (1, position));
        }
        position = position.saturating_add(1);
    });

    // Different surface forms with the same stems ("refund refunds") form
    // one position so they are not counted twice.
    let mut groups: HashMap<Vec<String>, QueryCandidate> = HashMap::new();
    let mut variants = Vec::new();
    for (token, (count, first)) in tokens {
        token_variants(&token, Lang::Both, &mut variants);
        if variants.is_empty() {
            continue;
        }
        variants.sort_unstable();
        let stopword = lists(&token) != 0;
        let longest = token.chars().count();
        match groups.get_mut(&variants) {
            Some(group) => {
                group.count = group.count.saturating_add(count);
                group.first = group.first.min(first);
                group.stopword &= stopword;
                group.longest = group.longest.max(longest);
            }
            None => {
                groups.insert(
                    variants.clone(),
                    QueryCandidate {
                        count,
                        first,
                        stopword,
                        longest,
                    },
                );
            }
        }
    }

    let mut ranked: Vec<(Vec<String>, QueryCandidate)> = groups.into_iter().collect();
    ranked.sort_unstable_by(|(_, a), (_, b)| {
        a.stopword
            .cmp(&b.stopword)
            .then(b.count.cmp(&a.count))
            .then(b.longest.cmp(&a.longest))
            .then(a.first.cmp(&b.first))
    });
    ranked.truncate(MAX_QUERY_TERMS);
    ranked.sort_unstable_by_key(|(_, c)| c.first);
    Query {
        terms: ranked
            .into_iter()
            .map(|(variants, c)| QueryTerm {
                variants,
                stopword: c.stopword,
            })
            .collect(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// End offset of the term in `AnalyzedDoc::text`; it starts where the
    /// previous one ends.
    end: u32,
    tf: u32,
    tag: bool,
}

/// The analysed form of one corpus entry: what the index needs, and what the
/// server persists next to the entry so start-up can rebuild the index
/// without re-running the analyzer.
///
/// Terms are kept sorted in one string buffer (rather than a `String` each)
/// because decoding 100,000 of these at start-up must be cheap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnalyzedDoc {
    text: String,
    entries: Vec<Entry>,
    length: u32,
}

#[derive(Default)]
struct TokenStat {
    raw: u32,
    weighted: u32,
    tag: bool,
}

fn collect_tokens(stats: &mut HashMap<String, TokenStat>, text: &str, weight: u32, tag: bool) {
    for_each_token(text, |t| {
        let stat = match stats.get_mut(t) {
            Some(stat) => stat,
            None => stats.entry(t.to_owned()).or_default(),
        };
        stat.raw = stat.raw.saturating_add(1);
        stat.weighted = stat.weighted.saturating_add(weight);
        stat.tag |= tag;
    });
}

/// Analyses one corpus entry. Term frequencies are weighted by field
/// (title x3, tags x2, content x1) and `length` is the weighted token count,
/// so BM25 length normalisation sees the same units as the frequencies.
/// The language is decided once for the whole entry (title alone is too
/// short to tell).
pub fn analyze_doc(title: &str, content: &str, tags: &[String]) -> AnalyzedDoc {
    let mut stats: HashMap<String, TokenStat> = HashMap::new();
    collect_tokens(&mut stats, title, TITLE_WEIGHT, false);
    collect_tokens(&mut stats, content, CONTENT_WEIGHT, false);
    for tag in tags {
        collect_tokens(&mut stats, tag, TAG_WEIGHT, true);
    }

    let mut votes = LangVotes::default();
    for (token, stat) in &stats {
        votes.add(token, stat.raw as usize);
    }
    let lang = votes.lang();

    let mut terms: HashMap<String, (u32, bool)> = HashMap::new();
    let mut length = 0u32;
    let mut variants = Vec::new();
    for (token, stat) in &stats {
        if lang.is_stopword(token) {
            continue;
        }
        length = length.saturating_add(stat.weighted);
        token_variants(token, lang, &mut variants);
        for term in variants.drain(..) {
            let entry = terms.entry(term).or_default();
            entry.0 = entry.0.saturating_add(stat.weighted);
            entry.1 |= stat.tag;
        }
    }
    AnalyzedDoc::from_terms(terms.into_iter().map(|(t, (tf, tag))| (t, tf, tag)), length)
}

impl AnalyzedDoc {
    fn from_terms(terms: impl IntoIterator<Item = (String, u32, bool)>, length: u32) -> Self {
        let mut terms: Vec<(String, u32, bool)> = terms.into_iter().collect();
        terms.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        terms.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = earlier.1.saturating_add(later.1);
                earlier.2 |= later.2;
                true
            } else {
                false
            }
        });
        let mut doc = AnalyzedDoc {
            text: String::with_capacity(terms.iter().map(|t| t.0.len()).sum()),
            entries: Vec::with_capacity(terms.len()),
            length,
        };
        for (term, tf, tag) in terms {
            let Ok(end) = u32::try_from(doc.text.len() + term.len()) else {
                break;
            };
            if term.is_empty() || tf == 0 {
                continue;
            }
            doc.text.push_str(&term);
            doc.entries.push(Entry { end, tf, tag });
        }
        doc
    }

    /// Builds a document from explicit terms (synthetic data, tests).
    /// Duplicate terms are merged; empty terms and zero frequencies dropped.
    pub fn from_parts<S: Into<String>>(
        terms: impl IntoIterator<Item = (S, u32, bool)>,
        length: u32,
    ) -> Self {
        Self::from_terms(
            terms.into_iter().map(|(t, tf, tag)| (t.into(), tf, tag)),
            length,
        )
    }

    /// Weighted token count (BM25 document length).
    pub fn length(&self) -> u32 {
        self.length
    }

    /// Number of distinct terms.
    pub fn term_count(&self) -> usize {
        self.entries.len()
    }

    /// `(term, weighted frequency, occurs in a tag)` in ascending term order.
    pub fn terms(&self) -> impl Iterator<Item = (&str, u32, bool)> + '_ {
        self.entries.iter().scan(0usize, move |start, e| {
            let begin = *start;
            *start = e.end as usize;
            Some((self.text.get(begin..*start).unwrap_or(""), e.tf, e.tag))
        })
    }

    /// Compact binary form: format byte, analyzer version, length, term
    /// count, then per term (sorted) the prefix shared with the previous
    /// term, the remaining suffix bytes and `tf << 1 | tag`, all LEB128.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.text.len() / 2 + self.entries.len() * 4);
        out.push(FORMAT_V1);
        put_varint(&mut out, u64::from(ANALYZER_VERSION));
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
        if format != FORMAT_V1 {
            return Err(DecodeError::UnknownFormat(format));
        }
        let version = r.varint_u32()?;
        if version != ANALYZER_VERSION {
            return Err(DecodeError::AnalyzerVersion(version));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_token(text, |t| out.push(t.to_owned()));
        out
    }

    fn doc_terms(doc: &AnalyzedDoc) -> Vec<String> {
        doc.terms().map(|(t, _, _)| t.to_owned()).collect()
    }

    /// Whether every query position finds at least one of its variants in
    /// the document: the matching rule the index applies.
    fn matches(query: &str, title: &str, content: &str) -> bool {
        let q = analyze_query(query);
        let doc = analyze_doc(title, content, &[]);
        let terms = doc_terms(&doc);
        !q.is_empty()
            && q.terms()
                .iter()
                .all(|qt| qt.variants().iter().any(|v| terms.contains(v)))
    }

    #[test]
    fn tokenizer_splits_apostrophes_and_drops_short_tokens() {
        assert_eq!(
            tokens("L'assurance, c'est 2 fois 2024!"),
            ["assurance", "est", "fois", "2024"]
        );
        assert_eq!(tokens("Hello—WORLD x y"), ["hello", "world"]);
        assert_eq!(tokens(&"a".repeat(49)), Vec::<String>::new());
        assert_eq!(tokens("ÉLÈVE"), ["élève"]);
    }

    #[test]
    fn decomposed_and_precomposed_accents_analyse_alike() {
        let nfd = "Ele\u{300}ve e\u{301}tudiant";
        let nfc = "Élève étudiant";
        assert_eq!(tokens(nfd), ["elève", "étudiant"]);
        assert_eq!(
            doc_terms(&analyze_doc("", nfd, &[])),
            doc_terms(&analyze_doc("", "Elève étudiant", &[]))
        );
        assert!(matches("eleve", "", nfc));
        assert!(matches("élève", "", "E\u{301}le\u{300}ve"));
    }

    #[test]
    fn folding() {
        assert_eq!(fold("élève"), "eleve");
        assert_eq!(fold("cœur"), "coeur");
        assert_eq!(fold("straße"), "strasse");
        assert_eq!(fold("plain"), "plain");
    }

    #[test]
    fn english_stemming_matches_inflections() {
        assert!(matches("refunds", "Refund policy", ""));
        assert!(matches("refunds", "", "We are refunding your order."));
        assert!(matches(
            "refund",
            "",
            "Refunds are processed within 5 days."
        ));
        assert!(!matches("refunds", "", "Shipping takes five days."));
    }

    #[test]
    fn french_stemming_and_accents() {
        assert!(matches(
            "remboursement",
            "",
            "Le produit est remboursé sous 5 jours."
        ));
        assert!(matches(
            "remboursement",
            "",
            "Nous vous rembourse le produit et la livraison."
        ));
        assert!(matches("remboursé", "Demande de remboursement", ""));
        assert!(matches("café", "", "Le cafe est offert."));
        assert!(matches(
            "cafe",
            "",
            "Le café est offert à tous les clients."
        ));
        assert!(matches("Élève", "", "Chaque eleve a un compte."));
        assert!(matches(
            "eleve",
            "",
            "Chaque élève a un compte et une carte."
        ));
        // Same pairs in documents too short to detect a language.
        assert!(matches("cafe", "Café", ""));
        assert!(matches("eleve", "Élève", ""));
        assert!(matches("Élève", "eleves", ""));
        assert!(matches("coeur", "", "Le cœur du produit est la sécurité."));
    }

    #[test]
    fn accents_match_in_english_documents_too() {
        // The English stemmer keeps "élève" whole but reduces "eleve" to
        // "elev": only the stem of the folded token bridges the two.
        let content = "The élève is in the class and the teacher is here.";
        assert_eq!(detect_lang(content), Lang::English);
        assert!(matches("eleve", "", content));
        assert!(matches(
            "élève",
            "",
            "The eleve is in the class and the teacher is here."
        ));
    }

    #[test]
    fn language_detection() {
        assert_eq!(
            detect_lang("What is the refund policy for my order?"),
            Lang::English
        );
        assert_eq!(
            detect_lang("Comment obtenir le remboursement de ma commande ?"),
            Lang::French
        );
        assert_eq!(detect_lang("Refund policy"), Lang::Both);
        assert_eq!(detect_lang("Comment settings"), Lang::Both);
    }

    #[test]
    fn stopwords_depend_on_detected_language() {
        let en = doc_terms(&analyze_doc(
            "How to delete a comment",
            "You can do it from the settings page.",
            &[],
        ));
        assert!(en.contains(&"comment".to_owned()), "{en:?}");
        assert!(!en.contains(&"the".to_owned()));
        assert!(!en.contains(&"how".to_owned()));
        let fr = doc_terms(&analyze_doc(
            "Comment supprimer un compte",
            "Vous pouvez le faire dans les réglages.",
            &[],
        ));
        assert!(!fr.contains(&"comment".to_owned()), "{fr:?}");
        assert!(!fr.contains(&"les".to_owned()));
        assert!(fr.contains(&"compt".to_owned()));
        // Too short to tell: only stopwords shared by both lists go.
        let short = doc_terms(&analyze_doc("Comment settings", "", &[]));
        assert!(short.contains(&"comment".to_owned()), "{short:?}");
    }

    #[test]
    fn field_weights_tags_and_length() {
        let doc = analyze_doc(
            "Refund",
            "refund shipping",
            &["refund".to_owned(), "billing".to_owned()],
        );
        let get = |term: &str| {
            doc.terms()
                .find(|(t, _, _)| *t == term)
                .map(|(_, tf, tag)| (tf, tag))
        };
        assert_eq!(get("refund"), Some((3 + 1 + 2, true)));
        assert_eq!(get("ship"), Some((1, false)));
        assert_eq!(get("bill"), Some((2, true)));
        assert_eq!(doc.length(), 3 + 1 + 1 + 2 + 2);
    }

    #[test]
    fn query_merges_forms_and_flags_stopwords() {
        let q = analyze_query("Refund refunds, the REFUNDING comment!");
        let variants: Vec<&[String]> = q.terms().iter().map(QueryTerm::variants).collect();
        assert_eq!(q.len(), 4, "{variants:?}");
        assert!(q.terms()[0].variants().contains(&"refund".to_owned()));
        assert!(q.terms()[1].is_stopword()); // the
        assert!(q.terms()[3].is_stopword()); // comment (French stopword)
        // Shared stopwords disappear entirely.
        assert!(analyze_query("on me as").is_empty());
    }

    #[test]
    fn long_query_is_capped_and_prefers_content_words() {
        let mut text = String::from("the and of to ");
        for i in 0..2000 {
            text.push_str(&format!("word{i} "));
        }
        text.push_str("shipping shipping shipping");
        let q = analyze_query(&text);
        assert_eq!(q.len(), MAX_QUERY_TERMS);
        assert!(q.terms().iter().all(|t| !t.is_stopword()));
        assert!(
            q.terms()
                .iter()
                .any(|t| t.variants().contains(&"ship".to_owned()))
        );
    }

    #[test]
    fn encode_decode_round_trip() {
        let doc = analyze_doc(
            "Remboursement et échanges",
            "Les clients peuvent demander un remboursement sous 30 jours. Café offert, élève.",
            &["facturation".to_owned(), "après-vente".to_owned()],
        );
        assert!(doc.term_count() > 5);
        let bytes = doc.encode();
        assert_eq!(AnalyzedDoc::decode(&bytes), Ok(doc.clone()));
        let empty = AnalyzedDoc::default();
        assert_eq!(AnalyzedDoc::decode(&empty.encode()), Ok(empty));
        let big = AnalyzedDoc::from_parts([("a", u32::MAX, true), ("é", 1, false)], u32::MAX);
        assert_eq!(AnalyzedDoc::decode(&big.encode()), Ok(big));
    }

    #[test]
    fn decode_rejects_other_versions_and_garbage() {
        let doc = analyze_doc("Refund", "Refunds take five days", &[]);
        let mut bytes = doc.encode();
        bytes[1] = (ANALYZER_VERSION + 1) as u8;
        assert_eq!(
            AnalyzedDoc::decode(&bytes),
            Err(DecodeError::AnalyzerVersion(ANALYZER_VERSION + 1))
        );
        assert_eq!(AnalyzedDoc::decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(
            AnalyzedDoc::decode(&[9]),
            Err(DecodeError::UnknownFormat(9))
        );
        let mut trailing = doc.encode();
        trailing.push(0);
        assert_eq!(
            AnalyzedDoc::decode(&trailing),
            Err(DecodeError::TrailingBytes)
        );
        // A count far beyond the payload must fail before allocating.
        let forged = [
            FORMAT_V1,
            ANALYZER_VERSION as u8,
            1,
            0xff,
            0xff,
            0xff,
            0xff,
            0x0f,
        ];
        assert_eq!(AnalyzedDoc::decode(&forged), Err(DecodeError::Truncated));
    }

    #[test]
    fn decode_never_panics_on_fuzzed_input() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let valid = analyze_doc(
            "Élève café",
            "Remboursement des frais de scolarité et du cœur du café.",
            &["tag".to_owned()],
        )
        .encode();
        for cut in 0..valid.len() {
            assert!(AnalyzedDoc::decode(&valid[..cut]).is_err());
        }
        for _ in 0..20_000 {
            let mut bytes = valid.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
            if let Ok(doc) = AnalyzedDoc::decode(&bytes) {
                // Whatever decodes must be internally consistent.
                assert_eq!(AnalyzedDoc::decode(&doc.encode()), Ok(doc.clone()));
                assert!(doc.terms().all(|(t, tf, _)| !t.is_empty() && tf > 0));
            }
            let len = (next() % 64) as usize;
            let mut random: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = random.first_mut() {
                *first = FORMAT_V1;
            }
            if random.len() > 1 {
                random[1] = ANALYZER_VERSION as u8;
            }
            let _ = AnalyzedDoc::decode(&random);
        }
    }
}
