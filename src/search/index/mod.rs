//! In-memory BM25 index, one [`TenantIndex`] per tenant, shared through
//! [`Index`].
//!
//! # Layout
//!
//! Every stored document gets a *slot* (`u32`), assigned in increasing order,
//! so each term's postings list (one `u32` per document packing slot, tf and
//! a tag bit) stays sorted just by appending. Replacing or removing a document
//! only tombstones its slot; postings of dead slots are skipped at query time
//! and purged by [`TenantIndex::compact`], which runs automatically once dead
//! slots reach 1/8 of all slots (or on every removal while the whole index is
//! small enough for that to be cheap). Removal therefore never touches
//! postings lists. Until compaction, document frequencies still count dead
//! postings; IDF uses the total slot count as N so both sides stay
//! consistent.
//!
//! # Scoring
//!
//! For query positions q (each with one or more variant terms t):
//!
//! ```text
//! score(d) = P(d) * Σ_q max_{t ∈ q, t ∈ d} idf(t) * tf·(k1+1) / (tf + k1·(1 − b + b·len(d)/avglen)) * T
//! idf(t)   = ln(1 + (N − df + 0.5) / (df + 0.5))
//! T        = 1.5 if t occurs in one of d's tags, else 1
//! P(d)     = 1 + 0.04·(priority − 5)            (0.84 at 1, 1.0 at 5, 1.2 at 10)
//! ```
//!
//! with k1 = 1.2, b = 0.75, tf the field-weighted frequency (title x3,
//! tags x2, content x1, capped at 127) and len the weighted length. Priority
//! multiplies the text score, so it decides between comparable matches but
//! cannot outweigh a text score more than 1.43x (1.2/0.84) better, and a
//! document that matches no query term is never a hit whatever its priority.
//! Ties are broken by newest `created_us`, then by id.
//!
//! Positions that are stopwords, or *common* (df > N/4 in a tenant of at
//! least 1,000 documents), do not produce candidates when the query has
//! other positions: they only add their score to documents found by the
//! selective ones, by galloping search in their (long) postings lists.
//! A query made only of such positions is evaluated normally.

mod dict;
mod listing;
mod meaning;
mod registry;
mod scoring;
mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use super::document::AnalyzedDoc;
use dict::TermDict;
use listing::Chronicle;
use meaning::Meanings;
pub use registry::{Index, read_lock, write_lock};
pub use scoring::Explained;

use super::lang::Lang;

const K1: f32 = 1.2;
const B: f32 = 0.75;
const TAG_BOOST: f32 = 1.5;
const PRIORITY_STEP: f32 = 0.04;
const DEFAULT_PRIORITY: u8 = 5;
/// Ranking factor for an entry written in the other language than the
/// question: a bilingual site answers French visitors from the French
/// entry even when the English one shares more words.
const OTHER_LANGUAGE_FACTOR: f32 = 0.6;
/// Score discounts of corrected matches, so exact matches rank first.
const PREFIX_DISCOUNT: f32 = 0.8;
const ONE_TYPO_DISCOUNT: f32 = 0.7;
const TWO_TYPOS_DISCOUNT: f32 = 0.5;
const COMMON_MIN_DOCS: usize = 1_000;
const COMMON_DF_DIVISOR: usize = 4;
/// Below this many postings a compaction costs well under a millisecond, so
/// small tenants purge on every removal and keep exact document frequencies.
const CHEAP_COMPACTION_POSTINGS: usize = 100_000;
const DEAD_SLOT_DIVISOR: usize = 8;

/// A posting is `slot << 8 | tag << 7 | tf` in one u32: 4 bytes per posting
/// in a single array per term (one cache miss per append while building),
/// still ordered by slot. It caps a tenant at 2^24 slots (16.7M documents).
const SLOT_SHIFT: u32 = 8;
const MAX_SLOTS: usize = 1 << 24;
const TF_MASK: u32 = 0x7f;
const TAG_BIT: u32 = 0x80;
const NO_SEGMENT: u32 = 0;
const REMOVED: u32 = u32::MAX;

/// What the index keeps about an entry besides its terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocMeta {
    pub id: String,
    pub segment: Option<String>,
    /// 1..=10 (values outside are clamped when scoring), default 5.
    pub priority: u8,
    /// Creation instant (unique per entry): orders newest-first listings and breaks ties.
    pub created_us: i64,
}

impl DocMeta {
    pub fn new(id: impl Into<String>) -> Self {
        DocMeta {
            id: id.into(),
            segment: None,
            priority: DEFAULT_PRIORITY,
            created_us: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub id: String,
    pub score: f32,
    /// Idf-weighted share of the query's information this document
    /// contains (0..=1): 1 when every content word is in it, low when it
    /// only shares an everyday word with a question about something else.
    pub coverage: f32,
    /// Bit i set when the document contains query position i.
    pub matched: u32,
    /// How much more this document is about the question than the others (see
    /// `meaning.rs`); `None` when it cannot be told: the query or the document has no
    /// meaning vector, or no other document is in the question's language.
    pub similarity: Option<f32>,
    /// The same with the question's misspelt words corrected
    /// ([`Query::meaning_as_corrected`](crate::search::Query::meaning_as_corrected)); equal
    /// to `similarity` when nothing was corrected. A correction may be a guess ("calories"
    /// is one letter from "colori[zed]"), so it orders the entries that answer, never
    /// decides whether any does.
    pub corrected_similarity: Option<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentFilter<'a> {
    /// Every entry.
    Any,
    /// Only entries whose segment is exactly this one (corpus list filter).
    Exact(&'a str),
    /// Entries of this segment plus entries without a segment (chat).
    SegmentOrGlobal(&'a str),
}

#[derive(Clone, Copy)]
enum SegmentPredicate {
    Any,
    Is(u32),
    IsOrGlobal(u32),
}

impl SegmentPredicate {
    fn accepts(self, segment: u32) -> bool {
        match self {
            SegmentPredicate::Any => true,
            SegmentPredicate::Is(s) => segment == s,
            SegmentPredicate::IsOrGlobal(s) => segment == s || segment == NO_SEGMENT,
        }
    }
}

/// Sorted postings of one term (see [`SLOT_SHIFT`]).
type Postings = Vec<u32>;

/// The weighted tf is capped at 127: BM25 saturates long before.
fn posting(slot: u32, tf: u32, tag: bool) -> u32 {
    (slot << SLOT_SHIFT) | (u32::from(tag) * TAG_BIT) | tf.clamp(1, TF_MASK)
}

fn idf(n: usize, df: usize) -> f32 {
    let n = n as f32;
    let df = df as f32;
    (1.0 + ((n - df).max(0.0) + 0.5) / (df + 0.5)).ln()
}

fn priority_factor(priority: u8) -> f32 {
    1.0 + PRIORITY_STEP * (f32::from(priority.clamp(1, 10)) - f32::from(DEFAULT_PRIORITY))
}

/// First index `>= from` whose value is `>= target` (exponential then binary
/// search), so intersecting k sorted candidates with a list of n postings
/// costs O(k·log(n/k)).
fn gallop(slots: &[u32], from: usize, target: u32) -> usize {
    let len = slots.len();
    if from >= len || slots[from] >= target {
        return from;
    }
    let mut lo = from;
    let mut step = 1;
    let mut hi = lo + 1;
    while hi < len && slots[hi] < target {
        lo = hi;
        step *= 2;
        hi = lo + step;
    }
    let hi = hi.min(len);
    lo + 1 + slots[lo + 1..hi].partition_point(|&s| s < target)
}

/// The index of one tenant. Not synchronised; see [`Index`].
#[derive(Default)]
pub struct TenantIndex {
    terms: TermDict,
    postings: Vec<Postings>,
    total_postings: usize,

    // Per slot (struct of arrays). `slot_id` is `None` for dead slots.
    slot_id: Vec<Option<Arc<str>>>,
    slot_len: Vec<u32>,
    slot_segment: Vec<u32>,
    slot_priority: Vec<u8>,
    slot_created: Vec<i64>,
    slot_lang: Vec<Option<Lang>>,
    meanings: Meanings,
    dead: usize,
    live_length: u64,

    /// foldhash rather than SipHash: the 100k-document build of
    /// `build_timing_100k` went from 0.72 s to 0.61 s.
    by_id: hashbrown::HashMap<Arc<str>, u32, foldhash::fast::RandomState>,
    /// Ordered lists so paginated listing never sorts all documents.
    newest: Chronicle,
    newest_by_segment: HashMap<u32, Chronicle>,
    /// True during [`TenantIndex::from_docs`]: listings are sorted once at the end.
    bulk: bool,
    /// Segment slug -> id (from 1; 0 is "no segment"). Never shrinks: a
    /// tenant has few segments.
    segments: HashMap<Box<str>, u32>,
}

impl TenantIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bulk build (start-up), then trims spare capacity. Equivalent to
    /// upserting every document (a repeated id replaces the earlier one) but
    /// several times faster: postings are buffered and appended per term in
    /// batches instead of one scattered write per posting.
    pub fn from_docs(docs: impl IntoIterator<Item = (DocMeta, AnalyzedDoc)>) -> Self {
        const BATCH: usize = 1 << 18;
        let mut index = Self {
            newest: Chronicle::new(true),
            bulk: true,
            ..Self::default()
        };
        let mut pending: Vec<(u32, u32)> = Vec::with_capacity(BATCH + 1024);
        for (meta, doc) in docs {
            index.tombstone(&meta.id);
            if index.slot_id.len() >= MAX_SLOTS {
                index.flush(&mut pending);
                index.compact();
            }
            let Some(slot) = index.add_slot(meta, &doc) else {
                continue;
            };
            for (term, tf, tag) in doc.terms() {
                if let Some(term_id) = index.terms.get_or_insert(term) {
                    pending.push((term_id as u32, posting(slot, tf, tag)));
                }
            }
            if pending.len() >= BATCH {
                index.flush(&mut pending);
            }
        }
        index.flush(&mut pending);
        index.bulk = false;
        index.newest.settle();
        for list in index.newest_by_segment.values_mut() {
            list.settle();
        }
        index.compact();
        index.shrink_to_fit();
        index
    }

    /// Appends buffered `(term, posting)` pairs, grouped by term with a
    /// counting sort (stable, so each term's postings stay in slot order).
    fn flush(&mut self, pending: &mut Vec<(u32, u32)>) {
        if pending.is_empty() {
            return;
        }
        let terms = self.terms.len();
        self.postings.resize_with(terms, Postings::new);
        let mut starts = vec![0usize; terms + 1];
        for &(term, _) in pending.iter() {
            starts[term as usize + 1] += 1;
        }
        for t in 0..terms {
            starts[t + 1] += starts[t];
        }
        let mut sorted = vec![0u32; pending.len()];
        let mut next = starts.clone();
        for &(term, posting) in pending.iter() {
            let at = &mut next[term as usize];
            sorted[*at] = posting;
            *at += 1;
        }
        for (t, postings) in self.postings.iter_mut().enumerate() {
            let run = &sorted[starts[t]..starts[t + 1]];
            if !run.is_empty() {
                postings.extend_from_slice(run);
            }
        }
        self.total_postings += pending.len();
        pending.clear();
    }

    /// Number of live documents.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Inserts the document, replacing any document with the same id.
    ///
    /// A tenant holds at most 2^24 (16.7M) slots; beyond that, after a
    /// compaction, new documents are ignored.
    pub fn upsert(&mut self, meta: DocMeta, doc: &AnalyzedDoc) {
        self.tombstone(&meta.id);
        if self.slot_id.len() >= MAX_SLOTS {
            self.compact();
        }
        let Some(slot) = self.add_slot(meta, doc) else {
            return;
        };
        for (term, tf, tag) in doc.terms() {
            let Some(term_id) = self.terms.get_or_insert(term) else {
                continue;
            };
            if term_id == self.postings.len() {
                self.postings.push(Postings::new());
            }
            if let Some(postings) = self.postings.get_mut(term_id) {
                postings.push(posting(slot, tf, tag));
                self.total_postings += 1;
            }
        }
        self.maybe_compact();
    }

    /// Registers a new slot for a document whose id is not in the index.
    /// Slot arrays are extended before any posting can point at the slot.
    fn add_slot(&mut self, meta: DocMeta, doc: &AnalyzedDoc) -> Option<u32> {
        if self.slot_id.len() >= MAX_SLOTS {
            return None;
        }
        let (length, lang) = (doc.length(), doc.lang());
        self.meanings.push(doc.meaning().copied(), lang);
        let slot = self.slot_id.len() as u32;
        let id: Arc<str> = Arc::from(meta.id);
        let segment = match meta.segment {
            Some(s) => self.intern_segment(s),
            None => NO_SEGMENT,
        };
        self.slot_id.push(Some(Arc::clone(&id)));
        self.slot_len.push(length);
        self.slot_segment.push(segment);
        self.slot_priority.push(meta.priority);
        self.slot_created.push(meta.created_us);
        self.slot_lang.push(lang);
        self.live_length += u64::from(length);
        let key = (meta.created_us, Arc::clone(&id));
        let bulk = self.bulk;
        self.newest_by_segment
            .entry(segment)
            .or_insert_with(|| Chronicle::new(bulk))
            .insert(key.clone());
        self.newest.insert(key);
        self.by_id.insert(id, slot);
        Some(slot)
    }

    /// Removes the document; returns whether it was present.
    pub fn remove(&mut self, id: &str) -> bool {
        let removed = self.tombstone(id);
        if removed {
            self.maybe_compact();
        }
        removed
    }

    fn intern_segment(&mut self, segment: String) -> u32 {
        if let Some(&id) = self.segments.get(segment.as_str()) {
            return id;
        }
        let id = self.segments.len() as u32 + 1;
        self.segments.insert(segment.into_boxed_str(), id);
        id
    }

    fn tombstone(&mut self, id: &str) -> bool {
        let Some((id, slot)) = self.by_id.remove_entry(id) else {
            return false;
        };
        let slot = slot as usize;
        let key = (self.slot_created[slot], id);
        self.newest.remove(&key);
        let segment = self.slot_segment[slot];
        if let Some(list) = self.newest_by_segment.get_mut(&segment) {
            list.remove(&key);
            if list.is_empty() {
                self.newest_by_segment.remove(&segment);
            }
        }
        self.slot_id[slot] = None;
        self.meanings.tombstone(slot, self.slot_lang[slot]);
        self.live_length = self
            .live_length
            .saturating_sub(u64::from(self.slot_len[slot]));
        self.dead += 1;
        true
    }

    fn maybe_compact(&mut self) {
        if self.dead > 0
            && (self.total_postings <= CHEAP_COMPACTION_POSTINGS
                || self.dead * DEAD_SLOT_DIVISOR >= self.slot_id.len())
        {
            self.compact();
        }
    }

    /// Purges dead slots from every postings list, renumbers slots densely
    /// and forgets terms no live document uses. O(total postings).
    pub fn compact(&mut self) {
        if self.dead == 0 {
            return;
        }
        let mut remap = vec![REMOVED; self.slot_id.len()];
        let mut next = 0u32;
        for (old, id) in self.slot_id.iter().enumerate() {
            if id.is_some() {
                remap[old] = next;
                next += 1;
            }
        }
        fn retain_live<T>(values: &mut Vec<T>, remap: &[u32]) {
            let mut i = 0;
            values.retain(|_| {
                let keep = remap.get(i).is_some_and(|&s| s != REMOVED);
                i += 1;
                keep
            });
        }
        retain_live(&mut self.slot_len, &remap);
        retain_live(&mut self.slot_segment, &remap);
        retain_live(&mut self.slot_priority, &remap);
        retain_live(&mut self.slot_created, &remap);
        retain_live(&mut self.slot_lang, &remap);
        self.meanings.retain(|slot| remap[slot] != REMOVED);
        self.meanings.recount(&self.slot_lang);
        self.slot_id.retain(Option::is_some);
        for slot in self.by_id.values_mut() {
            *slot = remap[*slot as usize];
        }

        let mut total = 0;
        let mut emptied = false;
        for postings in &mut self.postings {
            postings.retain_mut(|p| {
                let new = remap[(*p >> SLOT_SHIFT) as usize];
                *p = (new << SLOT_SHIFT) | (*p & (TAG_BIT | TF_MASK));
                new != REMOVED
            });
            if postings.capacity() > 2 * postings.len() + 16 {
                postings.shrink_to_fit();
            }
            emptied |= postings.is_empty();
            total += postings.len();
        }
        self.total_postings = total;

        if emptied {
            let mut terms = self.terms.empty_like();
            let mut kept = Vec::with_capacity(self.postings.len());
            for (id, postings) in std::mem::take(&mut self.postings).into_iter().enumerate() {
                if postings.is_empty() {
                    continue;
                }
                let term = std::str::from_utf8(self.terms.term(id)).unwrap_or_default();
                if terms.get_or_insert(term) == Some(kept.len()) {
                    kept.push(postings);
                }
            }
            self.terms = terms;
            self.postings = kept;
        }
        self.dead = 0;
    }

    /// Releases spare capacity left by incremental growth (call after a bulk
    /// load; [`from_docs`](Self::from_docs) does).
    pub fn shrink_to_fit(&mut self) {
        for postings in &mut self.postings {
            postings.shrink_to_fit();
        }
        self.postings.shrink_to_fit();
        self.terms.shrink_to_fit();
        self.slot_id.shrink_to_fit();
        self.slot_len.shrink_to_fit();
        self.slot_segment.shrink_to_fit();
        self.slot_priority.shrink_to_fit();
        self.slot_created.shrink_to_fit();
        self.slot_lang.shrink_to_fit();
        self.meanings.shrink_to_fit();
        self.by_id.shrink_to_fit();
    }

    /// Rough heap footprint in bytes (for metrics; ignores allocator
    /// overhead and estimates B-tree nodes).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let postings: usize = self
            .postings
            .iter()
            .map(|p| p.capacity() * 4)
            .sum::<usize>()
            + self.postings.capacity() * size_of::<Postings>();
        let terms = self.terms.memory_bytes();
        let ids: usize = self.by_id.keys().map(|k| k.len() + 16).sum();
        let slots = self.slot_id.capacity() * size_of::<Option<Arc<str>>>()
            + self.slot_len.capacity() * 4
            + self.slot_segment.capacity() * 4
            + self.slot_priority.capacity()
            + self.slot_created.capacity() * 8
            + self.slot_lang.capacity()
            + self.meanings.memory_bytes();
        let by_id = self.by_id.capacity() * (size_of::<(Arc<str>, u32)>() + 1);
        let ordered = self.newest.memory_bytes()
            + self
                .newest_by_segment
                .values()
                .map(Chronicle::memory_bytes)
                .sum::<usize>();
        postings + terms + ids + slots + by_id + ordered
    }
}
