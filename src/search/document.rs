//! Corpus entries to their analysed, weighted terms ([`AnalyzedDoc`]).

use super::FastMap;
use super::lang::{Lang, LangVotes};
use super::semantic::{self, Packed};
use super::tokenize::{byte_prefix, for_each_token, for_each_variant};

/// Version of the tokenising/stemming/folding rules. Stored analyses made with
/// another version are rejected by [`AnalyzedDoc::decode`] so the server
/// re-analyses them instead of mixing incompatible terms in one index.
/// Version 3 added the entry's meaning vector, version 4 made it unit length.
pub const ANALYZER_VERSION: u32 = 4;

/// The beginning of an entry that its meaning vector is made of, in bytes (characters of
/// English text): what the entry is about is said in its title and first paragraphs, and a
/// mean over a whole manual page would blur it (measured on the evaluation sets: 1,200
/// characters did as well as 3,000, at a third of the cost of an import).
const MEANING_BYTES: usize = 1_200;

const TITLE_WEIGHT: u32 = 3;
const TAG_WEIGHT: u32 = 2;
const CONTENT_WEIGHT: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// End offset of the term in `AnalyzedDoc::text`; it starts where the
    /// previous one ends.
    pub(super) end: u32,
    pub(super) tf: u32,
    pub(super) tag: bool,
}

/// The analysed form of one corpus entry: what the index needs, and what the
/// server persists next to the entry so start-up can rebuild the index
/// without re-running the analyzer.
///
/// Terms are kept sorted in one string buffer (rather than a `String` each)
/// because decoding 100,000 of these at start-up must be cheap.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnalyzedDoc {
    pub(super) text: String,
    pub(super) entries: Vec<Entry>,
    pub(super) length: u32,
    /// English or French when the entry as a whole clearly is.
    pub(super) lang: Option<Lang>,
    /// What the entry is about, for questions that share no word with it
    /// ([`semantic`]); `None` for an entry without text.
    pub(super) meaning: Option<Packed>,
}

#[derive(Default)]
struct TokenStat {
    weighted: u32,
    tag: bool,
}

/// Every occurrence of a word, keyed by the language of the paragraph it
/// was written in: the same word is a stopword in a French paragraph and
/// a content word in an English one.
/// Indexed by `Lang as usize`; keyed by `&str` lookups, so a repeated token allocates nothing.
type Stats = [FastMap<String, TokenStat>; 3];

fn collect_tokens(stats: &mut Stats, tokens: &Tokens, lang: Lang, weight: u32, tag: bool) {
    let stats = &mut stats[lang as usize];
    for t in tokens.iter() {
        let stat = stats.entry_ref(t).or_default();
        stat.weighted = stat.weighted.saturating_add(weight);
        stat.tag |= tag;
    }
}

/// The tokens of one text in one buffer: each text is tokenised (NFKC, lowercasing) once,
/// then read for the language votes and for the terms.
#[derive(Default)]
struct Tokens {
    text: String,
    ends: Vec<usize>,
}

impl Tokens {
    fn of(text: &str) -> Tokens {
        let mut tokens = Tokens::default();
        for_each_token(text, |t| {
            tokens.text.push_str(t);
            tokens.ends.push(tokens.text.len());
        });
        tokens
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        self.ends.iter().scan(0, |start, &end| {
            let token = self.text.get(*start..end).unwrap_or_default();
            *start = end;
            Some(token)
        })
    }

    fn votes(&self) -> LangVotes {
        let mut votes = LangVotes::default();
        for t in self.iter() {
            votes.add(t, 1);
        }
        votes
    }
}

/// Paragraphs (blank-line separated, or lines when the text has no blank
/// line): the unit of language detection. Entries of a bilingual site often
/// keep untranslated English paragraphs inside a French page; deciding per
/// paragraph keeps French stopwords out of the index while the English
/// paragraphs keep their own words.
fn paragraphs(content: &str) -> Vec<&str> {
    let blocks: Vec<&str> = content
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .collect();
    if blocks.len() > 1 {
        blocks
    } else {
        content.lines().filter(|l| !l.trim().is_empty()).collect()
    }
}

/// Analyses one corpus entry. Term frequencies are weighted by field
/// (title x3, tags x2, content x1) and `length` is the weighted token count,
/// so BM25 length normalisation sees the same units as the frequencies.
///
/// Language is decided per paragraph; a paragraph too short to tell (and
/// the title and tags) takes the language of the whole entry, and only a
/// whole entry without clear evidence is analysed in both languages. The
/// entry's language is kept ([`AnalyzedDoc::lang`]) so visitors can be
/// answered from entries in their own language first.
pub fn analyze_doc(title: &str, content: &str, tags: &[String]) -> AnalyzedDoc {
    let title = Tokens::of(title);
    let paragraphs: Vec<Tokens> = paragraphs(content).into_iter().map(Tokens::of).collect();
    let tags: Vec<Tokens> = tags.iter().map(|t| Tokens::of(t)).collect();
    let heading = title.votes();
    let paragraph_votes: Vec<LangVotes> = paragraphs.iter().map(Tokens::votes).collect();
    let mut whole = LangVotes::default();
    whole.add_votes(&heading);
    for votes in &paragraph_votes {
        whole.add_votes(votes);
    }
    for tag in &tags {
        whole.add_votes(&tag.votes());
    }
    // A translated page often keeps paragraphs of the original: when the
    // body is too mixed to call, the title says what the page is, and
    // failing that the majority does.
    let entry_lang = match (whole.lang(), heading.lang()) {
        (Lang::Both, Lang::Both) => whole.majority(),
        (Lang::Both, title) => title,
        (decided, _) => decided,
    };
    let mut stats = Stats::default();
    collect_tokens(&mut stats, &title, entry_lang, TITLE_WEIGHT, false);
    for (paragraph, votes) in paragraphs.iter().zip(&paragraph_votes) {
        let lang = match votes.lang() {
            Lang::Both => entry_lang,
            decided => decided,
        };
        collect_tokens(&mut stats, paragraph, lang, CONTENT_WEIGHT, false);
    }
    for tag in &tags {
        collect_tokens(&mut stats, tag, entry_lang, TAG_WEIGHT, true);
    }

    let mut terms: FastMap<String, (u32, bool)> = FastMap::default();
    let mut length = 0u32;
    for lang in [Lang::English, Lang::French, Lang::Both] {
        for (token, stat) in &stats[lang as usize] {
            if lang.is_stopword(token) {
                continue;
            }
            length = length.saturating_add(stat.weighted);
            for_each_variant(token, lang, |term| {
                let entry = terms.entry_ref(term).or_default();
                entry.0 = entry.0.saturating_add(stat.weighted);
                entry.1 |= stat.tag;
            });
        }
    }
    let mut doc =
        AnalyzedDoc::from_terms(terms.into_iter().map(|(t, (tf, tag))| (t, tf, tag)), length);
    doc.lang = match entry_lang {
        Lang::Both => None,
        decided => Some(decided),
    };
    doc
}

/// [`analyze_doc`] plus the entry's meaning vector: what the index stores for a corpus entry.
pub fn analyze_entry(title: &str, content: &str, tags: &[String]) -> AnalyzedDoc {
    let mut doc = analyze_doc(title, content, tags);
    doc.meaning = meaning(title, content);
    doc
}

/// The direction between the title's vector and the vector of the title with the entry's
/// beginning, at unit length: a question is compared with both what the entry is called and
/// what it says, in one dot product. Unit length matters: the plain mean of two unit vectors
/// is shorter the more they differ, which ranked an entry whose title says something else
/// than its first paragraph below the others whatever the question (with it, the right
/// entry came first by meaning alone for 0.65 of the main set's English questions; at unit
/// length, 0.73).
fn meaning(title: &str, content: &str) -> Option<Packed> {
    let beginning = byte_prefix(content, MEANING_BYTES);
    let whole = semantic::embed(&format!("{title}\n{beginning}"));
    let direction = match (semantic::embed(title), whole) {
        (Some(title), Some(whole)) => {
            semantic::normalised(std::array::from_fn(|i| title[i] + whole[i]))?
        }
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => return None,
    };
    Some(Packed::pack(&direction))
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
            lang: None,
            meaning: None,
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

    /// The entry's language when it clearly has one.
    pub fn lang(&self) -> Option<Lang> {
        self.lang
    }

    /// The same document marked as written in `lang` (synthetic data, tests).
    pub fn with_lang(mut self, lang: Option<Lang>) -> Self {
        self.lang = lang;
        self
    }

    /// What the entry is about (see [`analyze_entry`]).
    pub fn meaning(&self) -> Option<&Packed> {
        self.meaning.as_ref()
    }

    /// The same document with this meaning vector (synthetic data, tests).
    pub fn with_meaning(mut self, meaning: Option<Packed>) -> Self {
        self.meaning = meaning;
        self
    }
}
