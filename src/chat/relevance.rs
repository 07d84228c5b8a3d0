//! Whether the corpus answers a question at all, and which entries do.
//!
//! Ranking alone cannot say "nothing here": BM25 always has a best entry, and a question about
//! pizza deliveries shares "delivered" with some paragraph of a software manual. The decision
//! therefore looks at how much of the question's *information* the entry holds:
//!
//! ```text
//! relevance = 0.4 · coverage(entry) + 0.4 · coverage(best passage) + 0.2 · coverage(title)
//! ```
//!
//! where coverage is the idf-weighted share of the question's content words present (a word
//! the corpus lacks entirely, "pizza", weighs as much as its most specific word; stopwords
//! nothing; a typo-corrected word counts 0.6). The passage part is proximity: the words must
//! meet in the few sentences quoted, not be scattered over a long entry; the title part
//! rewards the entry written about the question. An entry answers when relevance reaches the tenant's threshold
//! ([`Sensitivity`]); calibration is described in docs/quality.md.

use std::collections::HashSet;

use super::answer::Retrieved;
use crate::search::{self, Hit, Lang, Query, SegmentFilter};
use crate::store::corpus::CorpusEntry;
use crate::store::{Store, StoreResult};

/// Ranked candidates examined per question.
pub const CANDIDATES: usize = 8;
/// At most this many entries feed one answer.
pub const MAX_SOURCES: usize = 3;
/// Secondary entries are quoted only when they score at least this share of the best.
const SECONDARY_SHARE: f32 = 0.6;
/// Minimum relevance at the default sensitivity, calibrated on bench/quality (main set):
/// the lowest value that keeps off-topic questions declined while in-domain paraphrases pass.
pub const DEFAULT_MIN_RELEVANCE: f32 = 0.47;
/// Parts of relevance: the entry as a whole, the quoted passage (proximity) and the title.
const WEIGHT_ENTRY: f32 = 0.4;
const WEIGHT_PASSAGE: f32 = 0.4;
const WEIGHT_TITLE: f32 = 0.2;
/// Weights of relevance and of the title's share of the question (the rest: the BM25 score
/// relative to the best) when ordering relevant entries: an entry whose title names the
/// question is usually the one written to answer it.
const RANK_RELEVANCE: f32 = 0.4;
const RANK_TITLE: f32 = 0.25;
/// How far the sensitivity setting moves the threshold at its extremes.
const SENSITIVITY_SPAN: f32 = 0.4;
/// A follow-up ("and on Sundays?") is a short message; longer ones stand alone.
const FOLLOW_UP_MAX_WORDS: usize = 6;
/// Language of an entry is read from its beginning (enough words, bounded cost).
const LANG_SAMPLE_BYTES: usize = 2_000;

/// How readily the bot answers: 0.0 = only on near-complete matches, 1.0 = on partial ones;
/// 0.5 is the calibrated default. A per-tenant setting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sensitivity(pub f32);

impl Default for Sensitivity {
    fn default() -> Self {
        Sensitivity(0.5)
    }
}

impl Sensitivity {
    /// The relevance an entry needs to be quoted.
    pub fn min_relevance(self) -> f32 {
        let s = if self.0.is_finite() {
            self.0.clamp(0.0, 1.0)
        } else {
            0.5
        };
        (DEFAULT_MIN_RELEVANCE + (0.5 - s) * SENSITIVITY_SPAN).clamp(0.05, 0.95)
    }
}

/// What one chat turn asks of the corpus.
#[derive(Clone, Debug)]
pub struct Retrieval<'a> {
    pub tenant: &'a str,
    pub segment: &'a str,
    pub message: &'a str,
    /// The visitor's previous message in the same conversation, to understand follow-ups.
    pub previous_user_message: Option<&'a str>,
    /// Total characters of quoted passages.
    pub max_chars: usize,
    pub sensitivity: Sensitivity,
}

/// A ranked entry and what the relevance decision knows about it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub entry: CorpusEntry,
    pub hit: Hit,
}

/// Ranks the segment's and the global entries against the message and keeps those that
/// answer it (empty = nothing relevant: answer with the fallback, do not call an LLM).
pub fn retrieve(store: &Store, request: &Retrieval<'_>) -> StoreResult<Vec<Retrieved>> {
    let query = search::analyze_query(request.message);
    let found = retrieve_for(store, request, &query, 0)?;
    if !found.is_empty() {
        return Ok(found);
    }
    let Some(previous) = request.previous_user_message else {
        return Ok(found);
    };
    if request.message.split_whitespace().count() > FOLLOW_UP_MAX_WORDS {
        return Ok(found);
    }
    // Read as a continuation of the previous question; the answer must still use something
    // of the new message, or it would only repeat the previous answer.
    let combined = search::analyze_query(&format!("{previous} {}", request.message));
    let own = new_positions(&combined, &query);
    if own == 0 {
        return Ok(found);
    }
    retrieve_for(store, request, &combined, own)
}

/// Bits of `combined` positions that come from the new message's own query.
fn new_positions(combined: &Query, own: &Query) -> u32 {
    let own_variants: HashSet<&str> = own
        .terms()
        .iter()
        .filter(|t| !t.is_stopword())
        .flat_map(|t| t.variants().iter().map(String::as_str))
        .collect();
    combined
        .terms()
        .iter()
        .enumerate()
        .take(32)
        .filter(|(_, t)| {
            t.variants()
                .iter()
                .any(|v| own_variants.contains(v.as_str()))
        })
        .fold(0, |mask, (i, _)| mask | (1 << i))
}

fn retrieve_for(
    store: &Store,
    request: &Retrieval<'_>,
    query: &Query,
    must_match: u32,
) -> StoreResult<Vec<Retrieved>> {
    let explained = store.index().explain(
        request.tenant,
        query,
        SegmentFilter::SegmentOrGlobal(request.segment),
        0,
        CANDIDATES,
    );
    let ids: Vec<String> = explained.hits.iter().map(|h| h.id.clone()).collect();
    let entries = store.get_corpus_many(request.tenant, &ids)?;
    let candidates = entries
        .into_iter()
        .filter_map(|entry| {
            let hit = explained.hits.iter().find(|h| h.id == entry.id)?.clone();
            (must_match == 0 || hit.matched & must_match != 0).then_some(Candidate { entry, hit })
        })
        .collect();
    let query = query.with_corrections(&explained.corrections);
    Ok(select(
        &query,
        &explained.weights,
        candidates,
        request.max_chars,
        request.sensitivity,
    ))
}

struct Judged {
    candidate: Candidate,
    relevance: f32,
    /// Share of the question in the best passage.
    passage: f32,
    /// Share of the question named in the entry's title.
    title: f32,
    lang: Option<Lang>,
}

/// Positions of `query` present in `text` analysed as a title.
fn title_mask(query: &Query, title: &str) -> u64 {
    let doc = search::analyze_doc(title, "", &[]);
    let terms: HashSet<&str> = doc.terms().map(|(t, _, _)| t).collect();
    query
        .terms()
        .iter()
        .enumerate()
        .take(64)
        .filter(|(_, t)| t.variants().iter().any(|v| terms.contains(v.as_str())))
        .fold(0, |mask, (i, _)| mask | (1 << i))
}

fn weighted_share(weights: &[f32], mask: u64) -> f32 {
    let total: f32 = weights.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let covered: f32 = weights
        .iter()
        .enumerate()
        .take(64)
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, w)| w)
        .sum();
    covered / total
}

/// The relevance of one entry (see the module documentation) from its three coverages.
pub fn relevance(entry: f32, passage: f32, title: f32) -> f32 {
    WEIGHT_ENTRY * entry + WEIGHT_PASSAGE * passage + WEIGHT_TITLE * title
}

fn judge(query: &Query, weights: &[f32], candidate: Candidate, max_chars: usize) -> Judged {
    let window = search::passage(&candidate.entry.content, query, max_chars).matched;
    let passage = weighted_share(weights, window);
    let title = weighted_share(weights, title_mask(query, &candidate.entry.title));
    Judged {
        relevance: relevance(candidate.hit.coverage, passage, title),
        passage,
        title,
        lang: None,
        candidate,
    }
}

fn entry_lang(entry: &CorpusEntry) -> Option<Lang> {
    let mut end = entry.content.len().min(LANG_SAMPLE_BYTES);
    while !entry.content.is_char_boundary(end) {
        end -= 1;
    }
    match search::detect_lang(&format!("{}\n{}", entry.title, &entry.content[..end])) {
        Lang::Both => None,
        lang => Some(lang),
    }
}

/// Keeps the candidates (best first) that answer the query and cuts their passages.
///
/// * Only entries reaching the relevance threshold are quoted, "See also" included.
/// * When a higher-priority entry covers everything the best one covers, it answers instead
///   (the tenant said it wins conflicts), and a lower-priority entry that covers nothing more
///   than the answer is not quoted: it is at best redundant, at worst contradicting it.
/// * Entries in another language than the answer's are not quoted beside it.
pub fn select(
    query: &Query,
    weights: &[f32],
    candidates: Vec<Candidate>,
    max_chars: usize,
    sensitivity: Sensitivity,
) -> Vec<Retrieved> {
    let threshold = sensitivity.min_relevance();
    let mut judged: Vec<Judged> = candidates
        .into_iter()
        .map(|candidate| judge(query, weights, candidate, max_chars))
        .collect();
    if log::log_enabled!(log::Level::Debug) {
        let best = judged.iter().map(|j| j.relevance).fold(0.0, f32::max);
        let features: Vec<String> = judged
            .iter()
            .map(|j| {
                format!(
                    "{:.3}/{:.3}/{:.3}",
                    j.candidate.hit.coverage, j.passage, j.title
                )
            })
            .collect();
        log::debug!(
            "relevance: best {best:.3} threshold {threshold:.3} features {}",
            features.join(" ")
        );
    }
    judged.retain(|j| j.relevance >= threshold);
    // Among relevant entries the one answering more of the question comes first; BM25
    // decides between entries covering it equally.
    let top_score = judged
        .iter()
        .map(|j| j.candidate.hit.score)
        .fold(0.0, f32::max);
    let rank = |j: &Judged| {
        RANK_RELEVANCE * j.relevance
            + RANK_TITLE * j.title
            + (1.0 - RANK_RELEVANCE - RANK_TITLE) * j.candidate.hit.score
                / top_score.max(f32::MIN_POSITIVE)
    };
    judged.sort_by(|a, b| rank(b).total_cmp(&rank(a)));
    for j in &mut judged {
        j.lang = entry_lang(&j.candidate.entry);
    }
    let mut relevant = judged;
    if relevant.is_empty() {
        return Vec::new();
    }
    let best = &relevant[0].candidate;
    let overriding = relevant
        .iter()
        .enumerate()
        .filter(|(_, j)| {
            j.candidate.entry.priority > best.entry.priority
                && j.candidate.hit.matched & best.hit.matched == best.hit.matched
        })
        .max_by_key(|(_, j)| j.candidate.entry.priority)
        .map(|(i, _)| i);
    if let Some(i) = overriding {
        let winner = relevant.remove(i);
        relevant.insert(0, winner);
    }

    let primary = &relevant[0];
    let (primary_score, primary_priority, primary_matched, primary_lang) = (
        primary.candidate.hit.score,
        primary.candidate.entry.priority,
        primary.candidate.hit.matched,
        primary.lang,
    );
    let mut kept = vec![0];
    for (i, judged) in relevant.iter().enumerate().skip(1) {
        if kept.len() == MAX_SOURCES {
            break;
        }
        let hit = &judged.candidate.hit;
        let adds_nothing = hit.matched & !primary_matched == 0;
        let conflicts = judged.candidate.entry.priority < primary_priority && adds_nothing;
        let other_language = primary_lang.is_some() && judged.lang != primary_lang;
        let weak = hit.score < primary_score * SECONDARY_SHARE && overriding.is_none();
        if conflicts || other_language || weak || judged.relevance < threshold {
            continue;
        }
        kept.push(i);
    }
    let budget = max_chars / kept.len();
    kept.into_iter()
        .map(|i| {
            let judged = &relevant[i];
            let entry = &judged.candidate.entry;
            Retrieved {
                passage: search::passage(&entry.content, query, budget).text,
                id: entry.id.clone(),
                title: entry.title.clone(),
                score: judged.candidate.hit.score,
            }
        })
        .collect()
}
