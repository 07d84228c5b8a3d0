//! Whether the corpus answers a question at all, and which entries do.
//!
//! Ranking alone cannot say "nothing here": BM25 always has a best entry, and a question about
//! pizza deliveries shares "delivered" with some paragraph of a software manual. The decision
//! therefore looks at how much of the question's *information* the entry holds:
//!
//! ```text
//! relevance = 0.4 · coverage(entry) + 0.4 · coverage(best passage, under its title)
//!           + 0.2 · coverage(title) + 1.0 · similarity
//! ```
//!
//! where coverage is the idf-weighted share of the question's content words present (a word
//! the corpus lacks entirely, "pizza", weighs as much as its most specific word; stopwords
//! nothing; a typo-corrected word counts 0.6), a share of at most [`ANSWERED_WORDS`] of its
//! most specific words' worth: the rest of a long message is the visitor's situation. The
//! passage part is proximity: the words must meet in the few sentences quoted, not be
//! scattered over a long entry, and the sentences are
//! read under their title (a FAQ's title asks the question its answer does not repeat); the
//! title part rewards the entry written about the question. Similarity is meaning: how much
//! closer the entry's vector is to the question's than the other entries' on average
//! (`search::semantic`, `search::index` keeps the averages), which finds paraphrases that
//! share no word with their answer ("How do I get my money back?" / "Refund policy"); the
//! index adds the entries closest in meaning to the lexical candidates. The corpus answers
//! when the best entry's relevance reaches the tenant's threshold ([`Sensitivity`]; a long
//! message, its information spread over more words, needs [`LONG_MESSAGE_SHARE`] of it), or
//! when an entry's meaning alone reaches [`ANSWER_FLOOR`] of it and the corpus knows every
//! word of the question (a paraphrase that shares almost no word with its answer). *Which* entry
//! answers is then an ordering among the candidates that reach at least [`ANSWER_FLOOR`] of
//! the threshold, weighted towards the title: the entry written about the question often
//! quotes fewer of its words than a long page that mentions them all. Calibration is
//! described in docs/quality.md.

use std::collections::HashSet;

use super::answer::Retrieved;
use crate::domain::CorpusEntry;
use crate::search::{self, Explained, Hit, Lang, Query, SegmentFilter};
use crate::store::{Store, StoreResult};

/// Ranked candidates examined per question.
pub const CANDIDATES: usize = 8;
/// At most this many entries feed one answer.
pub const MAX_SOURCES: usize = 3;
/// Secondary entries are quoted only when they score at least this share of the best.
const SECONDARY_SHARE: f32 = 0.6;
/// Minimum relevance at the default sensitivity, calibrated on bench/quality (main set) for
/// each language the same way: where off-topic questions of that language are declined at
/// least 95% of the time with the fewest in-domain questions declined (the middle of that
/// range). English, and questions whose language is unknown:
pub const DEFAULT_MIN_RELEVANCE: f32 = 0.68;
/// French questions: French coverage and similarity sit lower for in-domain and off-topic
/// questions alike (off-topic French questions reach at most 0.54 but one, against 0.67 in
/// English).
pub const FRENCH_MIN_RELEVANCE: f32 = 0.57;
/// The same for relevance made of words alone, calibrated the same way before meaning existed.
const LEXICAL_MIN_RELEVANCE: f32 = 0.47;
/// Parts of relevance: the entry as a whole, the quoted passage (proximity), the title and
/// the meaning.
const WEIGHT_ENTRY: f32 = 0.4;
const WEIGHT_PASSAGE: f32 = 0.4;
const WEIGHT_TITLE: f32 = 0.2;
const WEIGHT_MEANING: f32 = 1.0;
/// Weights of the words' relevance and of the title's share of the question (the rest: the
/// BM25 score relative to the best) when ordering relevant entries: an entry whose title
/// names the question is usually the one written to answer it.
const RANK_RELEVANCE: f32 = 0.45;
const RANK_TITLE: f32 = 0.4;
/// Weight of meaning in that ordering: between entries sharing the question's words, the one
/// about the question answers.
const RANK_MEANING: f32 = 1.0;
/// Once the question is known to be answerable, an entry may answer it with this share of
/// the threshold (its title then usually names the question); "See also" entries still need
/// the full threshold.
pub const ANSWER_FLOOR: f32 = 0.65;
/// A question's information beyond this many of its most specific words' worth is context,
/// not more to answer: an entry covering a share of it covers that share scaled up to this
/// much (see [`information_scale`]). Coverage is a share, so a visitor who describes their
/// situation before asking ("We have about 15 Debian machines in the office and each one
/// downloads the same updates...") needed their answer to cover as large a share of 30
/// words as a two-word question's answer does of two. Calibrated on the main set, the
/// engine run end to end: at 2.5 words' worth 0.90 / 0.92 of its English / French off-topic
/// questions are declined, at 3 0.94 / 0.98, from 3.5 on 0.96 / 0.98 as without the scale,
/// its in-domain figures unchanged throughout; 5 keeps a margin of one and a half words over
/// that edge.
const ANSWERED_WORDS: f32 = 5.0;
/// How far the sensitivity setting moves the threshold at its extremes.
const SENSITIVITY_SPAN: f32 = 0.4;
/// A follow-up ("and on Sundays?") is a short message; longer ones stand alone.
const FOLLOW_UP_MAX_WORDS: usize = 6;
/// A message at least this long that nothing answers as a whole is read as a question with
/// its context, and the question is then judged alone when it has enough words to stand
/// alone and the context has as many.
const LONG_MESSAGE_WORDS: usize = 15;
/// A message that long also needs only this share of the threshold to be answered (unless
/// it asks about something the corpus lacks, see [`Bar::of`]): its
/// information is spread over more words, so any entry holds a smaller share of it, and its
/// mean meaning is diluted too, off-topic and in-domain alike. Calibrated on the main set's
/// long messages as the thresholds are: the off-topic ones (an in-domain context around an
/// off-topic question) reach at most 0.49, the in-domain ones 0.42, 0.50, 0.63, 0.72 and
/// 1.16 against 0.68; the middle of the range that declines them all, 0.56, is 0.82 of 0.68.
const LONG_MESSAGE_SHARE: f32 = 0.82;
/// The most of a long message's information that may lie in words the corpus lacks for it to
/// need that share: half. The long messages of the evaluation sets, in-domain and off-topic
/// alike, hold 8-47% of theirs in such words; a message mostly about something else to a
/// small corpus holds 80%.
const LONG_MESSAGE_MAX_ABSENT: f32 = 0.5;
const QUESTION_MIN_WORDS: usize = 3;
/// Words naming something (not stopwords, not framing words) the question needs to stand
/// alone: "how do I fix it?" names one thing and means the context's.
const QUESTION_MIN_TOPICS: usize = 2;
/// The question alone answers only from the entries that the whole message's words rank
/// first, this many of them: a question that only refers back ("how do I fix it?") matches
/// whatever says "fix", and the context is what tells which. One: the question confirms
/// what the whole message points to, it does not choose among its candidates.
const CONTEXT_FIRST: usize = 1;
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
    /// The relevance an entry needs to be quoted for a question in `lang`.
    pub fn min_relevance(self, lang: Option<Lang>) -> f32 {
        let s = if self.0.is_finite() {
            self.0.clamp(0.0, 1.0)
        } else {
            0.5
        };
        (calibrated_min_relevance(lang) + (0.5 - s) * SENSITIVITY_SPAN).clamp(0.05, 0.95)
    }
}

fn calibrated_min_relevance(lang: Option<Lang>) -> f32 {
    match lang {
        Some(Lang::French) => FRENCH_MIN_RELEVANCE,
        _ => DEFAULT_MIN_RELEVANCE,
    }
}

/// What a question's candidates are measured against.
#[derive(Clone, Copy, Debug)]
struct Bar {
    /// The relevance an entry needs to be quoted.
    threshold: f32,
    /// The relevance that lets an entry compete for the answer once the question is known to
    /// be answerable ([`ANSWER_FLOOR`] of the threshold a short question needs).
    floor: f32,
    /// How much the shares of the question an entry covers are scaled for the decision
    /// ([`information_scale`]).
    scale: f32,
    /// What an entry's meaning counts when it cannot be measured (no vector for the question
    /// or the entry, or no other entry in the question's language to compare it with, as in
    /// a one-entry corpus): exactly what makes the words alone answer as they did before
    /// meaning.
    unmeasured_meaning: f32,
}

impl Bar {
    fn new(sensitivity: Sensitivity, lang: Option<Lang>) -> Bar {
        let threshold = sensitivity.min_relevance(lang);
        Bar {
            threshold,
            scale: 1.0,
            floor: threshold * ANSWER_FLOOR,
            unmeasured_meaning: calibrated_min_relevance(lang) - LEXICAL_MIN_RELEVANCE,
        }
    }

    /// The bar of a question: a long one needs [`LONG_MESSAGE_SHARE`] of the threshold when
    /// the corpus knows most of its information and every word of its question. Nearly
    /// every long message holds some word the corpus lacks ("my colleague", "our VPN"), but
    /// a message asking about something the corpus lacks ("..., can you recommend a recipe
    /// for banana bread?", "do you know a limerick about that?") has no such allowance: its
    /// in-domain context alone would reach it.
    fn of(sensitivity: Sensitivity, query: &Query, weights: &[f32], lacking: Lacking) -> Bar {
        let mut bar = Bar::new(sensitivity, query.lang());
        let long = query.words() >= LONG_MESSAGE_WORDS;
        let mostly_known = weighted_share(weights, lacking.positions) <= LONG_MESSAGE_MAX_ABSENT;
        if lacking.positions & lacking.asked == 0 {
            bar.scale = information_scale(weights);
            if long && mostly_known {
                bar.threshold *= LONG_MESSAGE_SHARE;
            }
        }
        bar
    }

    /// The meaning's part of an entry's relevance.
    fn meaning(self, hit: &Hit) -> f32 {
        self.meaning_of(hit.similarity)
    }

    /// The same, with the question's misspelt words corrected: it lets an entry compete for
    /// the answer, not the question be answered.
    fn corrected_meaning(self, hit: &Hit) -> f32 {
        self.meaning_of(hit.corrected_similarity)
    }

    fn meaning_of(self, similarity: Option<f32>) -> f32 {
        similarity.map_or(self.unmeasured_meaning, |similarity| {
            WEIGHT_MEANING * similarity
        })
    }
}

/// The words of a question the corpus lacks entirely.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lacking {
    /// Their positions in the query ([`Explained::absent`](search::Explained::absent)).
    pub positions: u64,
    /// The positions of the message's question, when it has one besides its context.
    pub asked: u64,
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
    retrieve_with(request, |query, worth_reading| {
        store.rank_corpus(
            request.tenant,
            query,
            SegmentFilter::SegmentOrGlobal(request.segment),
            CANDIDATES,
            worth_reading,
        )
    })
}

/// Tells, from a hit and the question's position weights, whether its entry is worth
/// reading from the store.
pub type WorthReading<'a> = &'a dyn Fn(&Hit, &[f32]) -> bool;

/// [`retrieve`] over any ranking: `rank` returns the explained top hits of a query that are
/// worth reading, and their entries (entries that no longer exist are simply missing).
pub fn retrieve_with(
    request: &Retrieval<'_>,
    mut rank: impl FnMut(&Query, WorthReading<'_>) -> StoreResult<(Explained, Vec<CorpusEntry>)>,
) -> StoreResult<Vec<Retrieved>> {
    let query = chat_query(request.message);
    let short = request.message.split_whitespace().count() <= FOLLOW_UP_MAX_WORDS;
    if let Some(previous) = request.previous_user_message.filter(|_| short) {
        // A short message after another question is read as its continuation first ("and
        // on Sundays?"); the answer must still use something of the new message, or it
        // would only repeat the previous answer.
        let text = format!("{previous} {}", request.message);
        let combined = chat_query(&text);
        let own = positions_of(&combined, &query);
        if own != 0 {
            let (explained, entries) = rank(&combined, &worth_reading(request, &combined))?;
            let found = judge_all(request, &combined, explained, entries, own, own);
            if !found.is_empty() {
                return Ok(found);
            }
        }
    }
    let (explained, entries) = rank(&query, &worth_reading(request, &query))?;
    let question = last_question(request.message);
    let context_first =
        question.map_or_else(HashSet::new, |_| first_by_words(&explained, CONTEXT_FIRST));
    let asked = question.map_or(0, |question| {
        positions_of(&query, &search::analyze_query(question))
    });
    let found = judge_all(request, &query, explained, entries, 0, asked);
    let Some(question) = question.filter(|_| found.is_empty()) else {
        return Ok(found);
    };
    // A question with its context ("I often connect over a slow link and my jobs die. Is
    // there a program that keeps the session alive?"): judged whole, the many words of the
    // context dilute coverage and meaning alike, so the question is judged alone.
    let own = chat_query(question);
    let named = own
        .terms()
        .iter()
        .filter(|t| !t.is_stopword() && !t.is_framing())
        .count();
    let refers_back = refers_back(question);
    if named < QUESTION_MIN_TOPICS && !refers_back {
        return Ok(found);
    }
    let (explained, mut entries) = rank(&own, &worth_reading(request, &own))?;
    // Every word of the question is known to the corpus: it asks nothing the corpus lacks.
    let known = explained.absent == 0;
    if named >= QUESTION_MIN_TOPICS {
        entries.retain(|entry| context_first.contains(&entry.id));
        let found = judge_all(request, &own, explained, entries, 0, 0);
        if !found.is_empty() {
            return Ok(found);
        }
    }
    // A question that refers back ("..., what's the standard way to do that on debian?")
    // asks about its context, which is then judged alone, from the same entries. Not when
    // it asks something the corpus lacks about it ("can you tell me a joke about it?").
    if !known || !refers_back {
        return Ok(found);
    }
    let context = chat_query(&without(request.message, question));
    let (explained, mut entries) = rank(&context, &worth_reading(request, &context))?;
    entries.retain(|entry| context_first.contains(&entry.id));
    Ok(judge_all(request, &context, explained, entries, 0, 0))
}

/// Pronouns by which a question points back at what was said before it.
const REFERRING: &[&str] = &[
    "it", "that", "this", "them", "these", "those", "ça", "cela", "ceci",
];

fn refers_back(question: &str) -> bool {
    let mut found = false;
    search::tokenize::for_each_token(question, |t| found |= REFERRING.contains(&t));
    found
}

/// `message` without `part`, a slice of it: the context around a question.
fn without(message: &str, part: &str) -> String {
    // `part` borrows from `message`, so its address tells where it starts.
    let start = (part.as_ptr() as usize).saturating_sub(message.as_ptr() as usize);
    let end = (start + part.len()).min(message.len());
    match (message.get(..start), message.get(end..)) {
        (Some(before), Some(after)) => format!("{before} {after}"),
        _ => message.to_owned(),
    }
}

/// Ids of the `n` hits with the best word scores.
fn first_by_words(explained: &Explained, n: usize) -> HashSet<String> {
    let mut hits: Vec<&Hit> = explained.hits.iter().collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.iter().take(n).map(|h| h.id.clone()).collect()
}

fn chat_query(text: &str) -> Query {
    search::analyze_query(text)
        .typo_tolerant()
        .with_meaning_of(text)
}

/// The last question of a long message, from the clause boundary before it to its question
/// mark, when the message is long, that question has words enough to stand alone and the rest
/// of the message (the context, before or after it) as many.
fn last_question(message: &str) -> Option<&str> {
    let all_words = message.split_whitespace().count();
    if all_words < LONG_MESSAGE_WORDS {
        return None;
    }
    let (mark, _) = message
        .char_indices()
        .rfind(|&(_, c)| matches!(c, '?' | '？'))?;
    let start = message[..mark]
        .char_indices()
        .rfind(|&(_, c)| matches!(c, '.' | '!' | '?' | '？' | ';' | ':' | ',' | '\n'))
        .map_or(0, |(boundary, c)| boundary + c.len_utf8());
    let question = message[start..mark].trim();
    let words = question.split_whitespace().count();
    (words >= QUESTION_MIN_WORDS && all_words - words >= QUESTION_MIN_WORDS).then_some(question)
}

/// Whether a hit could reach the answer floor at best (its passage holding every question
/// word the entry holds, its title all of them): the others are not read from the store.
/// Most of the entries added for their meaning are far from it.
fn worth_reading(request: &Retrieval<'_>, query: &Query) -> impl Fn(&Hit, &[f32]) -> bool {
    let bar = Bar::new(request.sensitivity, query.lang());
    move |hit, weights| {
        // The scale a question's words can get at best (the message's question is not
        // known here to withhold it).
        let scale = information_scale(weights);
        let held = weighted_share(weights, u64::from(hit.matched));
        decided_words(scale, hit.coverage, held, 1.0)
            + bar.meaning(hit).max(bar.corrected_meaning(hit))
            >= bar.floor
    }
}

/// [`select`] among the ranked entries; with `must_match`, only those matching one of these
/// positions. `asked` marks the positions of the message's question, when it has one.
fn judge_all(
    request: &Retrieval<'_>,
    query: &Query,
    explained: Explained,
    entries: Vec<CorpusEntry>,
    must_match: u64,
    asked: u64,
) -> Vec<Retrieved> {
    let candidates = entries
        .into_iter()
        .filter_map(|entry| {
            let hit = explained.hits.iter().find(|h| h.id == entry.id)?.clone();
            (must_match == 0 || u64::from(hit.matched) & must_match != 0)
                .then_some(Candidate { entry, hit })
        })
        .collect();
    let query = query.with_corrections(&explained.corrections);
    select(
        &query,
        &explained.weights,
        Lacking {
            positions: explained.absent,
            asked,
        },
        candidates,
        request.max_chars,
        request.sensitivity,
    )
}

/// Bits of the positions of `whole` whose words `part` (a part of its text) has.
fn positions_of(whole: &Query, part: &Query) -> u64 {
    let part_variants: HashSet<&str> = part
        .terms()
        .iter()
        .filter(|t| !t.is_stopword())
        .flat_map(|t| t.variants().iter().map(String::as_str))
        .collect();
    whole
        .terms()
        .iter()
        .enumerate()
        .take(64)
        .filter(|(_, t)| {
            t.variants()
                .iter()
                .any(|v| part_variants.contains(v.as_str()))
        })
        .fold(0, |mask, (i, _)| mask | (1 << i))
}

struct Judged {
    candidate: Candidate,
    /// The meaning's part of relevance, the question as typed.
    meaning: f32,
    /// The same with the question's misspelt words corrected.
    corrected_meaning: f32,
    /// Share of the question in the best passage.
    passage: f32,
    /// Share of the question in the best passage read under the entry's title: a FAQ's title
    /// asks the question its first sentences answer without repeating it.
    under_title: f32,
    /// Share of the question named in the entry's title.
    title: f32,
    /// [`Bar::scale`]
    scale: f32,
    lang: Option<Lang>,
    /// Where the question's words are in the entry, when they were looked for: the passage
    /// quoted is cut from it for the budget the answer leaves this entry.
    located: Option<search::Located>,
}

impl Judged {
    /// The words' part of relevance (entry, passage under its title, and title coverages,
    /// scaled to the information a question can ask for).
    fn words(&self) -> f32 {
        decided_words(
            self.scale,
            self.candidate.hit.coverage,
            self.under_title,
            self.title,
        )
    }

    /// Whether the entry answers: words and meaning.
    fn relevance(&self) -> f32 {
        self.words() + self.meaning
    }

    /// The same with the question's misspelt words corrected: whether it may compete for the
    /// answer once the question is known to be answerable.
    fn corrected_relevance(&self) -> f32 {
        self.words() + self.corrected_meaning
    }

    /// The words' part as the ordering weighs it: the passage alone, the title having a part
    /// of its own there (the ordering's weights were fitted so).
    fn ranked_words(&self) -> f32 {
        lexical_relevance(self.candidate.hit.coverage, self.passage, self.title)
    }
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

/// What a share of the question's information counts for the decision: the share of
/// [`ANSWERED_WORDS`] of its most specific words' worth when it holds more, at most all of
/// it. 1 for most questions; 30 words of context and question hold 2-3 times that.
fn information_scale(weights: &[f32]) -> f32 {
    let total: f32 = weights.iter().sum();
    let heaviest = weights.iter().copied().fold(0.0, f32::max);
    let enough = ANSWERED_WORDS * heaviest;
    if enough > 0.0 && total > enough {
        total / enough
    } else {
        1.0
    }
}

/// The words' part of relevance for the decision: [`lexical_relevance`] of the three
/// coverages, each scaled by [`information_scale`] and at most 1.
fn decided_words(scale: f32, entry: f32, passage: f32, title: f32) -> f32 {
    let scaled = |share: f32| (share * scale).min(1.0);
    lexical_relevance(scaled(entry), scaled(passage), scaled(title))
}

/// The words' part of an entry's relevance (see the module documentation), from its three
/// coverages.
fn lexical_relevance(entry: f32, passage: f32, title: f32) -> f32 {
    WEIGHT_ENTRY * entry + WEIGHT_PASSAGE * passage + WEIGHT_TITLE * title
}

fn judge(
    query: &Query,
    weights: &[f32],
    candidate: Candidate,
    max_chars: usize,
    bar: Bar,
) -> Judged {
    let title_words = title_mask(query, &candidate.entry.title);
    let title = weighted_share(weights, title_words);
    // The passage holds at most the words the entry holds: when even that cannot reach the
    // floor, choosing the passage (the costly part on long entries) is skipped.
    let at_most = weighted_share(weights, u64::from(candidate.hit.matched));
    let meaning = bar.meaning(&candidate.hit);
    let corrected_meaning = bar.corrected_meaning(&candidate.hit);
    let (passage, under_title, located) =
        if decided_words(bar.scale, candidate.hit.coverage, at_most, title)
            + meaning.max(corrected_meaning)
            < bar.floor
        {
            (at_most, at_most, None)
        } else {
            let located = search::Located::in_text(&candidate.entry.content, query);
            let window = located.passage(&candidate.entry.content, max_chars);
            (
                weighted_share(weights, window.matched),
                weighted_share(weights, window.matched | title_words),
                Some(located),
            )
        };
    Judged {
        meaning,
        corrected_meaning,
        passage,
        under_title,
        title,
        scale: bar.scale,
        lang: None,
        located,
        candidate,
    }
}

fn entry_lang(entry: &CorpusEntry) -> Option<Lang> {
    let sample = search::byte_prefix(&entry.content, LANG_SAMPLE_BYTES);
    match search::detect_lang(&format!("{}\n{sample}", entry.title)) {
        Lang::Both => None,
        lang => Some(lang),
    }
}

/// The language a title shows, if any. A title is a few words, often without a stopword:
/// French letters count as evidence there ("Système protégé (chroot)"), as they do in a
/// visitor's question.
fn title_lang(entry: &CorpusEntry) -> Option<Lang> {
    search::evidence(&entry.title)
}

/// Keeps the candidates (best first) that answer the query and cuts their passages.
/// `lacking` tells which words of the query the corpus lacks entirely.
///
/// * The question is answerable when an entry reaches the relevance threshold, or when its
///   meaning alone reaches [`ANSWER_FLOOR`] of it and the corpus knows every word of the
///   question.
/// * Only entries reaching the relevance threshold are quoted as "See also".
/// * When a higher-priority entry covers everything the best one covers, it answers instead
///   (the tenant said it wins conflicts), and a lower-priority entry that covers nothing more
///   than the answer is not quoted: it is at best redundant, at worst contradicting it.
/// * Entries in another language than the answer's are not quoted beside it.
pub fn select(
    query: &Query,
    weights: &[f32],
    lacking: Lacking,
    candidates: Vec<Candidate>,
    max_chars: usize,
    sensitivity: Sensitivity,
) -> Vec<Retrieved> {
    let bar = Bar::of(sensitivity, query, weights, lacking);
    let absent = lacking.positions;
    let threshold = bar.threshold;
    let mut judged: Vec<Judged> = candidates
        .into_iter()
        .map(|candidate| judge(query, weights, candidate, max_chars, bar))
        .collect();
    if log::log_enabled!(log::Level::Debug) {
        let best = judged.iter().map(Judged::relevance).fold(0.0, f32::max);
        let features: Vec<String> = judged
            .iter()
            .map(|j| {
                format!(
                    "{:.3}/{:.3}/{:.3}/{:.3}/{:.3}/{}",
                    j.candidate.hit.coverage,
                    j.passage,
                    j.title,
                    j.candidate.hit.score,
                    j.candidate.hit.similarity.unwrap_or(0.0),
                    j.candidate.entry.id
                )
            })
            .collect();
        // The question's total information (sum of position weights) lets the evaluation
        // turn coverages back into absolute amounts when calibrating.
        let information: f32 = weights.iter().sum();
        let lacking = weighted_share(weights, absent);
        log::debug!(
            "relevance: best {best:.3} threshold {threshold:.3} information {information:.2} absent {lacking:.3} words {} features {}",
            query.words(),
            features.join(" ")
        );
    }
    // A paraphrase can share almost no word with its answer ("switch to a different
    // distribution" / "change to another distribution"): an entry whose meaning alone reaches
    // the answer floor stands out further than any off-topic question's best entry on the
    // calibration set, so it makes the question answerable. Not when the corpus lacks a word
    // of the question: that word says it is about something else, and a long message's
    // in-domain context can carry the meaning of an off-topic question.
    let floor = bar.floor;
    if !judged
        .iter()
        .any(|j| j.relevance() >= threshold || (absent == 0 && j.meaning >= floor))
    {
        return Vec::new();
    }
    judged.retain(|j| j.relevance().max(j.corrected_relevance()) >= floor);
    // Among relevant entries the one answering more of the question comes first; BM25
    // decides between entries covering it equally.
    let top_score = judged
        .iter()
        .map(|j| j.candidate.hit.score)
        .fold(0.0, f32::max);
    let rank = |j: &Judged| {
        RANK_RELEVANCE * j.ranked_words()
            + RANK_TITLE * j.title
            + (1.0 - RANK_RELEVANCE - RANK_TITLE) * j.candidate.hit.score
                / top_score.max(f32::MIN_POSITIVE)
            + RANK_MEANING * j.candidate.hit.corrected_similarity.unwrap_or(0.0)
    };
    // Between entries that rank exactly alike (an untranslated copy of a page in the other
    // language's part of the site), the one written first is the original.
    judged.sort_by(|a, b| {
        rank(b).total_cmp(&rank(a)).then(
            a.candidate
                .entry
                .created_at
                .cmp(&b.candidate.entry.created_at),
        )
    });
    if let Some(copy) = copy_for_the_visitor(&judged, query.lang(), max_chars) {
        let copy = judged.remove(copy);
        judged.insert(0, copy);
    }
    for j in &mut judged {
        j.lang = entry_lang(&j.candidate.entry);
    }
    if let Some(translation) = in_the_visitors_language(&judged, query.lang(), threshold) {
        let translation = judged.remove(translation);
        judged.insert(0, translation);
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
                && j.relevance() >= threshold
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
        // Unknown (a short entry gives no evidence) is no other language.
        let other_language =
            primary_lang.is_some() && judged.lang.is_some() && judged.lang != primary_lang;
        let weak = hit.score < primary_score * SECONDARY_SHARE && overriding.is_none();
        if conflicts || other_language || weak || judged.relevance() < threshold {
            continue;
        }
        kept.push(i);
    }
    let budget = max_chars / kept.len();
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(kept.len());
    for i in kept {
        let judged = &relevant[i];
        let entry = &judged.candidate.entry;
        let passage = match &judged.located {
            Some(located) => located.passage(&entry.content, budget).text,
            None => search::passage(&entry.content, query, budget).text,
        };
        // An untranslated copy (a "French" page keeping the English paragraph) quotes the
        // same sentences again: nothing to add.
        let key = passage_key(&passage);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        out.push(Retrieved {
            passage,
            id: entry.id.clone(),
            title: entry.title.clone(),
            score: judged.candidate.hit.score,
        });
    }
    out
}

/// Between copies of one text (entries that would quote the same passage as the best one),
/// the one a visitor should get. On a bilingual site an untranslated page is copied into the
/// other language's part, sometimes under a translated title, and a copy can rank a hair
/// above its original (a title closer in meaning, a translated cross-reference, one more
/// mention of a word), though the visitor reads the same text either way. So the best-ranked
/// copy whose title suits the visitor's language answers (the page of their part of the
/// site), and between copies under one title, the original, written first. `None` when that
/// is the best one.
fn copy_for_the_visitor(judged: &[Judged], asked: Option<Lang>, max_chars: usize) -> Option<usize> {
    let best = judged.first()?;
    let quoted = |j: &Judged| {
        j.located
            .as_ref()
            .map(|l| passage_key(&l.passage(&j.candidate.entry.content, max_chars).text))
    };
    let key = quoted(best)?;
    let copies: Vec<(usize, &Judged)> = judged
        .iter()
        .enumerate()
        .filter(|(i, j)| *i == 0 || quoted(j).as_ref() == Some(&key))
        .collect();
    // A title in the visitor's language, then one that says nothing of its language (short
    // titles often do not), then one in the other language.
    let title_fit = |j: &Judged| match (asked, title_lang(&j.candidate.entry)) {
        (None, _) => 0,
        (Some(asked), Some(title)) if title == asked => 2,
        (Some(_), None) => 1,
        _ => 0,
    };
    let fittest = copies.iter().map(|(_, j)| title_fit(j)).max()?;
    let (_, lead) = copies.iter().find(|(_, j)| title_fit(j) == fittest)?;
    let title = lead.candidate.entry.title.trim().to_lowercase();
    let (chosen, _) = copies
        .iter()
        .filter(|(_, j)| j.candidate.entry.title.trim().to_lowercase() == title)
        .min_by_key(|(_, j)| j.candidate.entry.created_at)?;
    (*chosen != 0).then_some(*chosen)
}

/// When the best entry is written for readers of the other language, the best-ranked entry
/// written for the visitor's that answers on its own (reaches the threshold) and holds every
/// question word the best one holds: a translation, which a question mixing in English words
/// ("le vieux system V init", an error message) ranks a little lower. An entry is written for
/// a language when its text or its title is in it (an untranslated copy in the visitor's part
/// of the site keeps a translated title). Without the last condition a French page sharing
/// only "vieux" with the question took the answer from the English one about "system V
/// init". `None` when the best one suits, or no entry does.
fn in_the_visitors_language(
    judged: &[Judged],
    asked: Option<Lang>,
    threshold: f32,
) -> Option<usize> {
    let asked = asked?;
    let suits = |j: &Judged| j.lang == Some(asked) || title_lang(&j.candidate.entry) == Some(asked);
    let best = judged.first()?;
    if best.lang.is_none() || suits(best) {
        return None;
    }
    let covered = best.candidate.hit.matched;
    judged.iter().position(|j| {
        suits(j) && j.relevance() >= threshold && j.candidate.hit.matched & covered == covered
    })
}

/// The start of a passage reduced to lowercase letters and digits: equal keys mean the same
/// sentences whatever the spacing or punctuation.
fn passage_key(passage: &str) -> String {
    passage
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .take(120)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{DocMeta, TenantIndex};

    fn entry(id: &str, title: &str, content: &str, priority: u8) -> CorpusEntry {
        CorpusEntry {
            id: id.into(),
            title: title.into(),
            content: content.into(),
            segment: None,
            priority,
            tags: vec![],
            created_at: Default::default(),
            updated_at: Default::default(),
            revision: 0,
            summary: None,
            is_active: true,
        }
    }

    /// The chat's retrieval over an in-memory index of `entries`.
    fn ask(entries: &[CorpusEntry], message: &str, previous: Option<&str>) -> Vec<Retrieved> {
        ask_with(entries, message, previous, Sensitivity::default())
    }

    fn ask_with(
        entries: &[CorpusEntry],
        message: &str,
        previous: Option<&str>,
        sensitivity: Sensitivity,
    ) -> Vec<Retrieved> {
        let index = TenantIndex::from_docs(entries.iter().map(|e| {
            let meta = DocMeta {
                id: e.id.clone(),
                segment: None,
                priority: e.priority,
                created_us: e.created_at.micros(),
            };
            (meta, search::analyze_entry(&e.title, &e.content, &e.tags))
        }));
        let request = Retrieval {
            tenant: "t",
            segment: "general",
            message,
            previous_user_message: previous,
            max_chars: 1200,
            sensitivity,
        };
        retrieve_with(&request, |query, worth_reading| {
            let mut explained = index.explain(query, SegmentFilter::Any, 0, CANDIDATES);
            let weights = explained.weights.clone();
            explained.hits.retain(|hit| worth_reading(hit, &weights));
            let found = explained
                .hits
                .iter()
                .filter_map(|h| entries.iter().find(|e| e.id == h.id).cloned())
                .collect();
            Ok((explained, found))
        })
        .unwrap_or_default()
    }

    fn ids(found: &[Retrieved]) -> Vec<&str> {
        found.iter().map(|r| r.id.as_str()).collect()
    }

    fn created_at(mut entry: CorpusEntry, micros: i64) -> CorpusEntry {
        entry.created_at = crate::clock::Timestamp::from_micros(micros);
        entry
    }

    /// Unrelated English entries: meaning needs others to compare an entry with.
    fn bystanders() -> [CorpusEntry; 2] {
        [
            entry(
                "a",
                "Shell prompt",
                "The shell prompt shows your user name.",
                5,
            ),
            entry("b", "Log files", "The journal keeps the system logs.", 5),
        ]
    }

    /// French pages about something else, so that a French question's meaning is measured
    /// against other French entries.
    fn french_bystanders() -> [CorpusEntry; 2] {
        [
            entry(
                "c",
                "Invite de commande",
                "L'invite affiche le nom de l'utilisateur.",
                5,
            ),
            entry(
                "d",
                "Journaux",
                "Le journal conserve les traces du système.",
                5,
            ),
        ]
    }

    /// A help desk for a terminal tool, where context words ("server", "connection",
    /// "file") are everywhere.
    fn terminal_help() -> Vec<CorpusEntry> {
        vec![
            entry(
                "screen",
                "The screen program",
                "screen keeps a terminal session alive when the connection drops: reattach to \
                 it later with screen -r.",
                5,
            ),
            entry(
                "ssh",
                "Connecting to a server",
                "Connect to your server with ssh. A slow connection can be tuned with \
                 compression.",
                5,
            ),
            entry(
                "jobs",
                "Running jobs in the background",
                "Long running jobs can be started in the background with an ampersand.",
                5,
            ),
            entry(
                "server",
                "Server configuration",
                "The server configuration file sets the port and the data directory.",
                5,
            ),
        ]
        .into_iter()
        .chain(bystanders())
        .collect()
    }

    #[test]
    fn a_long_message_is_answered_from_its_question_when_the_context_agrees() {
        let corpus = terminal_help();
        let message = "Hi, I often connect to my server over a slow link and when it drops my \
                       long running jobs die. Is there a program that keeps the terminal \
                       session alive so I can reattach later?";
        // Judged whole, the context's words dilute the question: nothing reached the bar.
        let found = ask(&corpus, message, None);
        assert_eq!(ids(&found).first(), Some(&"screen"), "{found:?}");
    }

    #[test]
    fn a_long_message_with_words_the_corpus_lacks_in_its_context_is_answered() {
        let corpus: Vec<CorpusEntry> = terminal_help()
            .into_iter()
            .chain([
                entry(
                    "mtu",
                    "Finding the optimal MTU",
                    "The MTU is the biggest packet a link carries without fragmentation. \
                     Send pings of a given size with the do-not-fragment flag and lower it \
                     until they pass.",
                    5,
                ),
                entry(
                    "downloads",
                    "Resuming downloads",
                    "Large downloads that stall can be resumed with wget -c. Files too big \
                     for the disk fail early.",
                    5,
                ),
            ])
            .collect();
        // "VPN" and "colleague" are unknown to the corpus; the question is not about them.
        let message = "Large downloads stall over our VPN and a colleague thinks the packets \
                       are too big. How do I find the biggest packet size that gets through \
                       without fragmentation, using ping?";
        let found = ask(&corpus, message, None);
        assert_eq!(ids(&found).first(), Some(&"mtu"), "{found:?}");
    }

    #[test]
    fn a_question_with_its_situation_needs_a_share_of_only_a_few_words_worth() {
        // Ten positions of equal weight: twice what an answer needs to cover.
        assert!((information_scale(&[1.0; 10]) - 2.0).abs() < 1e-6);
        // A short question's answer covers its share of the whole question.
        assert_eq!(information_scale(&[1.0, 2.0, 0.5]), 1.0);
        assert_eq!(information_scale(&[]), 1.0);
        // The answer holds the question's words, not the situation's: a third of the
        // message, more than five words' worth.
        let query = search::analyze_query(
            "Every morning I connect to the server and check the port in the configuration \
             file, then the updates start. Can each machine fetch a package once for the \
             local network?",
        );
        let weights = vec![1.0; query.len()];
        let content = "Each machine of a local network can fetch a package once through a \
                       cache.";
        let matched = title_mask(&query, content);
        let hit = Hit {
            id: "cacher".into(),
            score: 10.0,
            coverage: weighted_share(&weights, matched),
            matched: matched as u32,
            similarity: None,
            corrected_similarity: None,
        };
        assert!(hit.coverage < 0.5, "{}", hit.coverage);
        let candidates = vec![Candidate {
            entry: entry("cacher", "Caching packages", content, 5),
            hit,
        }];
        let found = select(
            &query,
            &weights,
            Lacking::default(),
            candidates.clone(),
            1200,
            Sensitivity::default(),
        );
        assert_eq!(ids(&found), ["cacher"]);
        // Not when its question asks about something the corpus lacks.
        let lacking = Lacking {
            positions: 1 << (query.len() - 1),
            asked: 1 << (query.len() - 1),
        };
        let found = select(
            &query,
            &weights,
            lacking,
            candidates,
            1200,
            Sensitivity::default(),
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_question_that_only_refers_back_is_not_answered_alone() {
        let context = [
            (
                "hexdump",
                "hexdump shows a binary file on the terminal. Fix its width with -w.",
            ),
            (
                "od",
                "od prints a binary file on the terminal in octal. Fix the format with -t.",
            ),
            (
                "xxd",
                "xxd turns a binary file into hex on the terminal. Fix the columns with -c.",
            ),
        ];
        let corpus: Vec<CorpusEntry> = context
            .iter()
            .map(|(id, content)| entry(id, &format!("The {id} tool"), content, 5))
            .chain([entry(
                "broken",
                "Fixing broken packages",
                "How do I fix it when a package is broken? Run apt --fix-broken install in a \
                 terminal.",
                5,
            )])
            .chain(bystanders())
            .collect();
        // "how do I fix it" alone is the first sentence of "Fixing broken packages", but the
        // context is about a garbled terminal: the entries it ranks first are others.
        let message = "my terminal is garbled after I cat a binary file to it, how do I fix it?";
        let found = ask(&corpus, message, None);
        assert!(!ids(&found).contains(&"broken"), "{found:?}");
        // Even when the entry is the one the whole message ranks first, a question naming
        // a single thing ("fix") does not stand alone.
        let corpus: Vec<CorpusEntry> = corpus
            .into_iter()
            .filter(|e| e.id == "broken" || ["a", "b"].contains(&e.id.as_str()))
            .collect();
        let found = ask(&corpus, message, None);
        assert!(found.is_empty(), "{found:?}");
        // Context about the product, question about something else: declined. The context
        // carries the ssh entry's meaning past the answer floor: the absent "banana" and
        // "bread" are what keep meaning alone from answering.
        let message = "Hi there, I have been connecting to my server over ssh for years and I \
                       love it. Unrelated question though: can you recommend a recipe for \
                       banana bread?";
        assert!(ask(&terminal_help(), message, None).is_empty());
    }

    #[test]
    fn a_long_message_needs_a_smaller_share_of_the_threshold() {
        let short = search::analyze_query("how do I purge the packages I removed?");
        let long = search::analyze_query(
            "I removed a lot of packages over the years and their configuration files are \
             still lying around, how do I purge them?",
        );
        let sensitivity = Sensitivity::default();
        // Ten positions of equal weight; the corpus lacks the first ("years", say).
        let weights = [1.0; 10];
        let one_lacking = Lacking {
            positions: 1,
            asked: 0,
        };
        let (short, long) = (
            Bar::of(sensitivity, &short, &weights, Lacking::default()),
            Bar::of(sensitivity, &long, &weights, one_lacking),
        );
        assert_eq!(short.threshold, DEFAULT_MIN_RELEVANCE);
        assert!((long.threshold - DEFAULT_MIN_RELEVANCE * LONG_MESSAGE_SHARE).abs() < 1e-6);
        // Competing for the answer, and meaning alone, need what they need for a short one.
        assert_eq!(long.floor, short.floor);
        let lacking = search::analyze_query(
            "I removed a lot of packages over the years and their configuration files are \
             still lying around, what is a good banana bread recipe?",
        );
        // Not when most of the message's information lies in words the corpus lacks...
        let mostly_lacking = Lacking {
            positions: 0b11_1111,
            asked: 0,
        };
        assert_eq!(
            Bar::of(sensitivity, &lacking, &weights, mostly_lacking).threshold,
            DEFAULT_MIN_RELEVANCE
        );
        // ... nor when its question holds one.
        let asked_lacking = Lacking {
            positions: 1 << 8,
            asked: 0b11 << 7,
        };
        assert_eq!(
            Bar::of(sensitivity, &lacking, &weights, asked_lacking).threshold,
            DEFAULT_MIN_RELEVANCE
        );
    }

    #[test]
    fn a_question_that_refers_back_is_answered_from_its_context() {
        let corpus: Vec<CorpusEntry> = terminal_help()
            .into_iter()
            .chain([
                entry(
                    "cron",
                    "Scheduling tasks regularly",
                    "Use cron to run a script automatically at a fixed time: a crontab line \
                     such as 0 3 * * * runs it every day at 3am.",
                    5,
                ),
                entry(
                    "backup",
                    "Backup tools",
                    "Back up your home directory with rsync or a backup suite.",
                    5,
                ),
                entry(
                    "releases",
                    "Debian releases",
                    "A new Debian release comes out every two years.",
                    5,
                ),
                entry(
                    "standards",
                    "Standards",
                    "The standard layout of the file system puts logs in /var/log.",
                    5,
                ),
                entry(
                    "tools",
                    "Usual tools",
                    "The usual tools are installed by default.",
                    5,
                ),
            ])
            .collect();
        let context = "I want my backup script to run automatically every day at 3am";
        // The question's words, each known to the corpus elsewhere, dilute the context when
        // the message is judged whole, and the question alone names nothing of the context.
        let message = format!(
            "{context}, what is the standard way to do that on a debian server with the usual tools?"
        );
        let found = ask(&corpus, &message, None);
        assert_eq!(ids(&found).first(), Some(&"cron"), "{found:?}");
        // Asking something the corpus lacks about it is not asking about the context.
        let message = format!(
            "{context}, do you know a limerick about that on a debian server with the usual tools?"
        );
        let found = ask(&corpus, &message, None);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn the_context_around_a_question_is_the_message_without_it() {
        let message = "My long running jobs die whenever the link drops. Is there a way to keep \
                       them? Thanks a lot";
        let context = last_question(message).map(|q| without(message, q));
        assert_eq!(
            context.as_deref(),
            Some("My long running jobs die whenever the link drops.  ? Thanks a lot")
        );
        assert!(refers_back("is there a way to keep them"));
        assert!(refers_back("comment faire ça ?"));
        assert!(!refers_back("is there a program keeping my session alive"));
    }

    #[test]
    fn the_question_of_a_long_message_is_its_last_clause_ending_with_a_question_mark() {
        let long = "I often connect to my server over a slow link and my long running jobs \
                    die. Is there a program that keeps my session alive?";
        assert_eq!(
            last_question(long),
            Some("Is there a program that keeps my session alive")
        );
        let french = "Bonjour, j'ai une application qui ne répond plus du tout et je n'arrive \
                      pas à la fermer, comment est-ce que je peux tuer le processus ？ Merci";
        assert_eq!(
            last_question(french),
            Some("comment est-ce que je peux tuer le processus")
        );
        // The question first, its context after it.
        assert_eq!(
            last_question(
                "Is there a program that keeps my session alive? My long running jobs die \
                 whenever my slow link drops."
            ),
            Some("Is there a program that keeps my session alive")
        );
        // Short messages, no question, a question with no context around it, or one too
        // short to stand alone: the message is judged whole only.
        assert_eq!(
            last_question("Is there a program that keeps my session alive?"),
            None
        );
        assert_eq!(
            last_question(
                "I often connect to my server over a slow link and my long running jobs die."
            ),
            None
        );
        assert_eq!(
            last_question(
                "Is there a program that keeps my terminal session alive when my slow link \
                 drops for a while?"
            ),
            None
        );
        assert_eq!(
            last_question(
                "I often connect to my server over a slow link and my long running jobs die, \
                 why?"
            ),
            None
        );
    }

    #[test]
    fn a_misspelt_word_means_what_it_was_corrected_to() {
        let corpus: Vec<CorpusEntry> = [
            entry(
                "upgrade",
                "System wide upgrade",
                "Move everything to the latest release with apt full-upgrade.",
                5,
            ),
            entry(
                "archive",
                "Debian archive basics",
                "The archive keeps the latest version of every Debian package.",
                5,
            ),
            entry(
                "packages",
                "Making a Debian package",
                "A Debian package is built from its source with debuild.",
                5,
            ),
        ]
        .into_iter()
        .chain(bystanders())
        .collect();
        // The pieces of "upgarde" mean nothing like an upgrade: embedded as typed, the
        // question was closest to the archive.
        let found = ask(
            &corpus,
            "upgarde everything to the latest debian version",
            None,
        );
        assert_eq!(ids(&found).first(), Some(&"upgrade"), "{found:?}");
    }

    #[test]
    fn a_word_corrected_to_a_lookalike_does_not_make_an_off_topic_question_answerable() {
        let corpus: Vec<CorpusEntry> = [
            entry(
                "colors",
                "Colorized commands",
                "alias ls='ls --color=always' colorizes the listing; grep --color colorizes \
                 the matches.",
                5,
            ),
            entry(
                "disk",
                "Disk usage",
                "du shows how much space each directory uses.",
                5,
            ),
        ]
        .into_iter()
        .chain(bystanders())
        .collect();
        // "calories" is one letter from "colori[ze]": embedded as corrected, the question
        // means colours.
        let found = ask(&corpus, "how many calories are in a banana", None);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_lone_entry_is_judged_on_its_words_as_before_meaning() {
        // With no other entry to compare it with, meaning cannot be measured; the words
        // alone must still answer (it declined while unmeasured meaning counted 0).
        let corpus = vec![entry(
            "delivery",
            "Delivery",
            "Parcels are delivered within three working days.",
            5,
        )];
        let found = ask(&corpus, "How long does delivery take?", None);
        assert_eq!(ids(&found), ["delivery"], "{found:?}");
        assert!(ask(&corpus, "What are your business hours?", None).is_empty());
    }

    #[test]
    fn meaning_picks_the_entry_about_the_question_over_one_sharing_more_words() {
        // "deliver" and "deliveries" stem apart, so "Shipping" ("Orders are delivered within 3
        // days") shares more of the question's words than "Deliveries" ("no deliveries on
        // Sundays"), which is the one about it: without meaning, shipping answered.
        let found = ask(&shop(), "Do you deliver on Sundays?", None);
        assert_eq!(ids(&found).first(), Some(&"sunday-delivery"), "{found:?}");
    }

    fn shop() -> Vec<CorpusEntry> {
        vec![
            entry(
                "refunds",
                "Refund policy",
                "Refunds take 5 business days after we receive the item. Keep your receipt.",
                5,
            ),
            entry(
                "support",
                "Customer support",
                "Our chat support is available 24 hours a day, 7 days a week.",
                5,
            ),
            entry(
                "shipping",
                "Shipping",
                "Orders are delivered within 3 days by our courier. Tracking is sent by email.",
                5,
            ),
            entry(
                "partners",
                "Partners",
                "We belong to a retail consortium; consortium membership gives partners early access.",
                5,
            ),
            entry(
                "hours",
                "Opening hours",
                "The shop opens at 9am on weekdays. On Sundays the shop opens at 11am.",
                5,
            ),
            entry(
                "sunday-delivery",
                "Deliveries",
                "There are no deliveries on Sundays or public holidays.",
                5,
            ),
        ]
    }

    #[test]
    fn a_paraphrase_whose_meaning_stands_out_is_answered_though_it_shares_few_words() {
        // "switch", "different" and "later" are in the corpus, but not in the entry that
        // answers: words and meaning together stay below the threshold, and the meaning alone
        // stands out from the other entries as far as no off-topic question's does.
        let saas = vec![
            entry(
                "plans",
                "Can I move to another plan?",
                "Yes. Upgrading from Basic to Pro takes effect at once; downgrading takes \
                 effect at the end of the billing period.",
                5,
            ),
            entry(
                "notifications",
                "Notifications",
                "You can switch off e-mail notifications in your profile settings.",
                5,
            ),
            entry(
                "language",
                "Language",
                "The app is available in a different language for each user: pick it in \
                 your profile.",
                5,
            ),
            entry(
                "invoices",
                "Invoices",
                "Invoices are sent by e-mail at the end of each month. You can pay later by \
                 bank transfer.",
                5,
            ),
            entry(
                "password",
                "Password",
                "Reset your password from the login page; the link is valid for one hour.",
                5,
            ),
            entry(
                "team",
                "Team members",
                "Invite team members from the team page; each member gets an e-mail.",
                5,
            ),
        ];
        let found = ask(&saas, "can I switch to a different plan later", None);
        assert_eq!(ids(&found), ["plans"], "{found:?}");
    }

    #[test]
    fn a_faq_answer_that_does_not_repeat_its_question_is_read_under_its_title() {
        // The title asks the question; the answer under it does not repeat its words. Read
        // without its title, the passage holds none of the question.
        let faq = vec![
            entry(
                "commercial",
                "Can I put my commercial program in a package?",
                "Feel free to do so. Its licence must allow us to redistribute it, and a \
                 control file describes what it needs.",
                5,
            ),
            entry(
                "source",
                "Where is the source code?",
                "Every package has its source code on the mirrors, next to the binaries.",
                5,
            ),
            entry(
                "install",
                "How do I install a program?",
                "Use apt install followed by the name of the package.",
                5,
            ),
            entry(
                "remove",
                "How do I remove a program?",
                "Use apt remove; apt purge also deletes its configuration files.",
                5,
            ),
            entry(
                "build",
                "How do I build a package from source?",
                "Get the source code with apt source and run dpkg-buildpackage in its \
                 directory.",
                5,
            ),
            entry(
                "hold",
                "How do I keep a package at its version?",
                "Mark it with apt-mark hold; upgrades then leave it alone.",
                5,
            ),
        ];
        let found = ask(
            &faq,
            "can I ship my closed commercial program as a package",
            None,
        );
        assert_eq!(ids(&found), ["commercial"], "{found:?}");
    }

    #[test]
    fn one_shared_everyday_word_is_not_an_answer() {
        let mut corpus = shop();
        corpus.retain(|e| e.id != "hours");
        // "hours" only meets "24 hours a day", "business" only "5 business days".
        assert_eq!(
            ids(&ask(&corpus, "What are your business hours?", None)),
            Vec::<&str>::new()
        );
        // "delivered" alone does not make a pizza question answerable...
        let without_sunday_deliveries: Vec<CorpusEntry> = corpus
            .iter()
            .filter(|e| e.id != "sunday-delivery")
            .cloned()
            .collect();
        let pizza = ask(
            &without_sunday_deliveries,
            "Do you deliver pizza on Sundays?",
            None,
        );
        assert!(pizza.is_empty(), "{pizza:?}");
        // ...but a shop that says it does not deliver on Sundays has the answer.
        assert_eq!(
            ids(&ask(&corpus, "Do you deliver pizza on Sundays?", None)),
            ["sunday-delivery"]
        );
        // "membership" alone does not make a gym question answerable.
        assert!(ask(&corpus, "How much does a gym membership cost?", None).is_empty());
        // The same corpus does answer what it covers.
        assert_eq!(
            ids(&ask(&corpus, "How long do refunds take?", None)),
            ["refunds"]
        );
        assert_eq!(
            ids(&ask(&corpus, "is support available 24 hours?", None)),
            ["support"]
        );
    }

    #[test]
    fn typos_are_forgiven_from_five_letters() {
        let corpus = vec![
            entry(
                "debian",
                "Installing Debian",
                "Download the Debian installer image.",
                5,
            ),
            entry("vim", "Using vim", "Vim is a modal text editor.", 5),
        ];
        assert_eq!(ids(&ask(&corpus, "debain installer", None)), ["debian"]);
        assert_eq!(ids(&ask(&corpus, "instaling debain", None)), ["debian"]);
        // Four letters allow no typo: "vin" is not "vim", "edit" not "editor" by a typo.
        assert!(ask(&corpus, "vin", None).is_empty());
    }

    #[test]
    fn follow_up_is_read_with_the_previous_question() {
        let corpus = shop();
        let found = ask(&corpus, "and on Sundays?", Some("When does the shop open?"));
        assert_eq!(ids(&found)[0], "hours", "{found:?}");
        assert!(
            found[0]
                .passage
                .contains("On Sundays the shop opens at 11am")
        );
        // Without the context the same words lead elsewhere or nowhere, and an unrelated
        // previous question does not hijack a complete new one.
        let fresh = ask(
            &corpus,
            "How long do refunds take?",
            Some("When does the shop open?"),
        );
        assert_eq!(ids(&fresh), ["refunds"]);
    }

    #[test]
    fn higher_priority_wins_conflicts_and_the_other_is_not_quoted() {
        let corpus = vec![
            entry(
                "old",
                "Opening time",
                "The shop opens at 8am every day. Opening time is 8am.",
                3,
            ),
            entry(
                "new",
                "Opening time",
                "The shop opens at 10am every day.",
                8,
            ),
        ];
        let found = ask(&corpus, "What time does the shop open?", None);
        assert_eq!(ids(&found), ["new"], "{found:?}");
    }

    #[test]
    fn see_also_only_quotes_relevant_entries() {
        let corpus = vec![
            entry(
                "refunds",
                "Refund policy",
                "Refunds take 5 business days.",
                5,
            ),
            entry(
                "returns",
                "Returns and refunds",
                "Returned items get a refund within 5 days.",
                5,
            ),
            entry(
                "misc",
                "About us",
                "We sell shoes. A refund desk exists in Paris, and skates.",
                5,
            ),
        ];
        let found = ask(&corpus, "how many days for a refund", None);
        assert!(ids(&found).contains(&"refunds"), "{found:?}");
        assert!(!ids(&found).contains(&"misc"), "{found:?}");
    }

    #[test]
    fn the_entry_written_about_the_question_answers_it() {
        // The long page holds every word of the question, scattered; the short entry is
        // about exactly this but quotes fewer of its words.
        let entries = vec![
            entry(
                "aptitude",
                "Tidying package status",
                "Exit aptitude first. Check the status of every package with the command \
                 apt-get -s autoremove, then check again. A command that fails returns an \
                 exit code; check the log. Exit when done. The status command shows more.",
                5,
            ),
            entry(
                "exit",
                "Exit status of a command",
                "Each command returns a value when it ends: zero for success.",
                5,
            ),
            entry(
                "mount",
                "Mounting disks",
                "Use mount to attach a file system; check it.",
                5,
            ),
            entry(
                "fsck",
                "Disk checks",
                "Check a file system with fsck before mounting.",
                5,
            ),
            entry("mail", "Reading mail", "Check your mail with mutt.", 5),
            entry("print", "Printing", "Check the printer queue with lpq.", 5),
        ];
        let found = ask(
            &entries,
            "how do I check the exit status of a command?",
            None,
        );
        assert_eq!(ids(&found).first(), Some(&"exit"), "{found:?}");
        // Whether to answer is still decided by the best coverage: a question the corpus
        // does not cover gets nothing, however well a title matches one of its words.
        let pizza = ask(&entries, "what is the status of my pizza delivery?", None);
        assert!(pizza.is_empty(), "{pizza:?}");
    }

    /// French questions are held to the French calibration: "tuer un programme bloqué"
    /// shares fewer informative words with "Tuer un processus" than its English equivalent
    /// would, and reaches the French threshold, not the English one. Off-topic French
    /// questions are still declined.
    #[test]
    fn french_questions_are_judged_against_the_french_calibration() {
        let corpus = vec![
            entry(
                "disk",
                "Utilisation de l'espace disque",
                "La commande df affiche l'espace libre sur chaque système de fichiers. La \
                 commande du donne la taille d'un répertoire.",
                5,
            ),
            entry(
                "kill",
                "Tuer un processus",
                "La commande kill envoie un signal à un processus. Utilisez kill -9 si le \
                 programme ne répond plus.",
                5,
            ),
            entry(
                "upgrade",
                "Mise à niveau du système",
                "La commande apt full-upgrade met à jour tous les paquets du système.",
                5,
            ),
            entry(
                "console",
                "Récupérer une console saine",
                "Si le terminal affiche des caractères illisibles, tapez reset pour le \
                 réinitialiser.",
                5,
            ),
            entry(
                "cron",
                "Planifier des tâches",
                "Le démon cron lance les commandes à heure fixe, par exemple chaque nuit.",
                5,
            ),
            entry(
                "locale",
                "Paramètres linguistiques",
                "La commande dpkg-reconfigure locales choisit la langue du système.",
                5,
            ),
            entry(
                "en1",
                "Disk usage",
                "The df command shows the free space of each file system.",
                5,
            ),
            entry(
                "en2",
                "Killing a process",
                "The kill command sends a signal to a process.",
                5,
            ),
        ];
        for (question, answer) in [
            ("mon programme est bloqué, comment le tuer ?", "kill"),
            ("lancer une commande chaque nuit", "cron"),
        ] {
            assert_eq!(ids(&ask(&corpus, question, None)), [answer], "{question}");
            let english_bar = Sensitivity(
                0.5 - (DEFAULT_MIN_RELEVANCE - FRENCH_MIN_RELEVANCE) / SENSITIVITY_SPAN,
            );
            assert!(
                ask_with(&corpus, question, None, english_bar).is_empty(),
                "{question} passes the English threshold too: pick a harder one"
            );
        }
        for off_topic in [
            "quel temps fera-t-il demain à Paris ?",
            "combien coûte une pizza margherita ?",
            "où se trouve la piscine municipale ?",
        ] {
            let found = ask(&corpus, off_topic, None);
            assert!(found.is_empty(), "{off_topic}: {found:?}");
        }
    }

    #[test]
    fn sensitivity_moves_the_threshold() {
        for lang in [None, Some(Lang::English), Some(Lang::French)] {
            let default = Sensitivity::default().min_relevance(lang);
            assert!(Sensitivity(0.0).min_relevance(lang) > default);
            assert!(Sensitivity(1.0).min_relevance(lang) < default);
            assert_eq!(Sensitivity(f32::NAN).min_relevance(lang), default);
        }
        assert_eq!(
            Sensitivity::default().min_relevance(None),
            DEFAULT_MIN_RELEVANCE
        );
        assert_eq!(
            Sensitivity::default().min_relevance(Some(Lang::French)),
            FRENCH_MIN_RELEVANCE
        );
    }

    #[test]
    fn french_questions_get_the_french_entry() {
        let corpus = vec![
            entry(
                "en",
                "Purging removed packages",
                "Purging removes the configuration files of removed packages with apt purge.",
                5,
            ),
            entry(
                "fr",
                "Purger les paquets supprimés",
                "La purge supprime les fichiers de configuration des paquets supprimés avec apt \
                 purge. Purging removes the configuration files of removed packages.",
                5,
            ),
        ];
        let found = ask(&corpus, "comment purger les paquets supprimés ?", None);
        assert_eq!(ids(&found), ["fr"], "{found:?}");
        let found = ask(&corpus, "how do I purge removed packages?", None);
        assert_eq!(ids(&found), ["en"], "{found:?}");
    }

    #[test]
    fn question_framing_words_absent_from_the_corpus_do_not_count_against_it() {
        let corpus = vec![entry(
            "refunds",
            "Refund policy",
            "Refunds are issued within 30 days of purchase.",
            5,
        )];
        assert_eq!(
            ids(&ask(&corpus, "How long do refunds take?", None)),
            ["refunds"]
        );
        assert!(ask(&corpus, "What is the capital of Mongolia?", None).is_empty());
    }

    #[test]
    fn an_untranslated_copy_is_not_quoted_twice() {
        let text = "The recent vim starts itself in the sane nocompatible mode. Press i to insert.";
        let corpus = vec![
            entry("en", "Using vim", text, 5),
            entry("fr", "Utiliser vim", text, 5),
        ];
        let found = ask(&corpus, "how do I start vim in nocompatible mode", None);
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn between_copies_under_translated_titles_the_visitor_gets_the_one_titled_in_their_language() {
        let text = "The locales package does not come with compiled locale data. Configure \
                    it with dpkg-reconfigure locales, then select the locales to build.";
        let original = created_at(entry("original", "The data of the locales", text, 5), 1);
        // The French part of the site translated the title only, and its title names more
        // of the question's words.
        let copy = entry(
            "copy",
            "Reconfigurer les locales avec dpkg-reconfigure",
            text,
            5,
        );
        let corpus: Vec<CorpusEntry> = [original, created_at(copy, 2)]
            .into_iter()
            .chain(french_bystanders())
            .chain(bystanders())
            .collect();
        let english = ask(
            &corpus,
            "how do I reconfigure the locales with dpkg-reconfigure?",
            None,
        );
        assert_eq!(ids(&english), ["original"], "{english:?}");
        let french = ask(
            &corpus,
            "comment reconfigurer les locales avec dpkg-reconfigure ?",
            None,
        );
        assert_eq!(ids(&french), ["copy"], "{french:?}");
    }

    #[test]
    fn a_french_title_without_a_stopword_is_known_by_its_letters() {
        // The French part of the site kept the English text under a title of two words,
        // neither of them a stopword: only its letters tell it is French.
        let text = "If you wish to try a new Debian environment from a terminal console, use \
                    chroot. This runs console applications of Debian unstable without \
                    rebooting.";
        let original = created_at(entry("original", "Chroot system", text, 5), 1);
        let copy = created_at(entry("copy", "Système protégé (chroot)", text, 5), 2);
        let corpus: Vec<CorpusEntry> = [original, copy]
            .into_iter()
            .chain(french_bystanders())
            .chain(bystanders())
            .collect();
        let french = ask(&corpus, "mettre en place un système chroot", None);
        assert_eq!(ids(&french), ["copy"], "{french:?}");
        let english = ask(&corpus, "how do I set up a chroot system?", None);
        assert_eq!(ids(&english), ["original"], "{english:?}");
    }

    #[test]
    fn a_french_question_with_english_words_gets_the_french_translation() {
        // The English words of the question name the English page's title, not the French
        // one's: the English page ranks first, but its French translation answers on its own
        // and holds every word the English page matched.
        let corpus: Vec<CorpusEntry> = [
            entry(
                "en",
                "And how about traditional System V init?",
                "System V init is still packaged: install sysvinit-core and reboot to start \
                 the system with it instead of systemd.",
                5,
            ),
            entry(
                "fr",
                "Et le démarrage à l'ancienne ?",
                "Le system V init est toujours disponible : installez sysvinit-core et \
                 redémarrez pour utiliser le system V init au lieu de systemd.",
                5,
            ),
            entry(
                "kernel-en",
                "Removing an old kernel",
                "Old kernel packages can be removed once the new kernel boots.",
                5,
            ),
            entry(
                "kernel-fr",
                "Supprimer un vieux noyau",
                "Les vieux paquets du noyau peuvent être supprimés une fois le nouveau noyau \
                 démarré.",
                5,
            ),
        ]
        .into_iter()
        .chain(bystanders())
        .collect();
        let french = ask(
            &corpus,
            "peut-on encore utiliser le vieux system V init ?",
            None,
        );
        assert_eq!(ids(&french).first(), Some(&"fr"), "{french:?}");
        let english = ask(&corpus, "can I still use the old system V init?", None);
        assert_eq!(ids(&english).first(), Some(&"en"), "{english:?}");
    }

    #[test]
    fn only_a_relevant_translation_takes_the_answer_into_the_visitors_language() {
        fn judged(id: &str, lang: Lang, title: &str, matched: u32, relevance: f32) -> Judged {
            Judged {
                candidate: Candidate {
                    entry: entry(id, title, "", 5),
                    hit: Hit {
                        id: id.into(),
                        score: 1.0,
                        coverage: relevance,
                        matched,
                        similarity: None,
                        corrected_similarity: None,
                    },
                },
                meaning: 0.0,
                corrected_meaning: 0.0,
                passage: relevance,
                under_title: relevance,
                title: relevance,
                scale: 1.0,
                lang: Some(lang),
                located: None,
            }
        }
        let english = || judged("en", Lang::English, "System V init", 0b0110, 0.9);
        let threshold = 0.57;
        let french = Some(Lang::French);
        for (case, judged, asked, expected) in [
            (
                "a translation",
                vec![
                    english(),
                    judged("fr", Lang::French, "Le system V init", 0b1110, 0.7),
                ],
                french,
                Some(1),
            ),
            (
                "a French page without a word the English one holds",
                vec![
                    english(),
                    judged("fr", Lang::French, "Un vieux noyau", 0b1100, 0.9),
                ],
                french,
                None,
            ),
            (
                "a translation below the threshold",
                vec![
                    english(),
                    judged("fr", Lang::French, "Le system V init", 0b1110, 0.5),
                ],
                french,
                None,
            ),
            (
                "an untranslated copy under a French title",
                vec![
                    english(),
                    judged(
                        "fr",
                        Lang::English,
                        "Et le démarrage avec le vieux init ?",
                        0b0110,
                        0.8,
                    ),
                ],
                french,
                Some(1),
            ),
            (
                "an English question",
                vec![
                    english(),
                    judged("fr", Lang::French, "Le system V init", 0b1110, 0.7),
                ],
                Some(Lang::English),
                None,
            ),
            (
                "a question of unknown language",
                vec![
                    english(),
                    judged("fr", Lang::French, "Le system V init", 0b1110, 0.7),
                ],
                None,
                None,
            ),
        ] {
            assert_eq!(
                in_the_visitors_language(&judged, asked, threshold),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn an_untranslated_copy_ranking_a_hair_higher_leaves_the_answer_to_its_original() {
        let shared = "Systemd starts the services in parallel from their unit files, which are \
                      written in a declarative style.";
        let original = entry(
            "original",
            "Systemd init",
            &format!(
                "{shared}\n\nSee the chapters about network applications and their daemons, \
                 the boot loader, the kernel, the login managers and the desktop sessions."
            ),
            5,
        );
        // The French part of the site kept the paragraph in English and translated the
        // cross-reference, shorter: the copy's words weigh a little more.
        let copy = entry(
            "copy",
            "Systemd init",
            &format!("{shared}\n\nVoir le chapitre 6."),
            5,
        );
        let packages = entry(
            "c",
            "Packages",
            "Apt installs packages from the archive.",
            5,
        );
        let corpus: Vec<CorpusEntry> = [created_at(original, 1), created_at(copy, 2), packages]
            .into_iter()
            .chain(bystanders())
            .collect();
        let found = ask(&corpus, "how does systemd start the services", None);
        assert_eq!(ids(&found), ["original"], "{found:?}");
    }

    #[test]
    fn between_identical_entries_the_original_answers() {
        let text = "Systemd starts the services in parallel from unit files.";
        let mut copy = entry("copy", "Systemd init", text, 5);
        copy.created_at = crate::clock::Timestamp::from_micros(2_000_000);
        let mut original = entry("original", "Systemd init", text, 5);
        original.created_at = crate::clock::Timestamp::from_micros(1_000_000);
        // Whatever order the index returns them in.
        for corpus in [
            vec![copy.clone(), original.clone()],
            vec![original.clone(), copy.clone()],
        ] {
            let found = ask(&corpus, "how does systemd init work", None);
            assert_eq!(ids(&found), ["original"], "{found:?}");
        }
    }
}
