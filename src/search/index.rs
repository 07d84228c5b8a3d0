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

use std::cmp::{Ordering, Reverse};
use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::iter::Peekable;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::analyze::{AnalyzedDoc, Query};

const K1: f32 = 1.2;
const B: f32 = 0.75;
const TAG_BOOST: f32 = 1.5;
const PRIORITY_STEP: f32 = 0.04;
const DEFAULT_PRIORITY: u8 = 5;
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

/// Newest first, then id descending: the `list_newest` order.
type TimeKey = (Reverse<i64>, Reverse<Arc<str>>);

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

/// Inline comparison: terms are short and a `memcmp` call per lookup was
/// measurable.
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Term -> dense id dictionary: open addressing over 8-byte entries
/// (32-bit hash tag + id) with the term bytes in one arena.
///
/// Building a 100k-document index does ~10M lookups; with
/// `HashMap<Box<str>, u32>` most of the build time went to cache misses on
/// buckets and on the separately allocated keys, plus SipHash. Here a lookup
/// touches one small entry and, only on a tag match, the arena. The hash is
/// a seeded folded multiply (the construction of foldhash), random per
/// dictionary, so tenants cannot precompute colliding terms.
struct TermDict {
    /// 0 = empty, else `tag << 32 | (id + 1)`.
    table: Vec<u64>,
    /// End offset of each term in `arena`; a term starts where the previous
    /// one ends.
    ends: Vec<u32>,
    arena: Vec<u8>,
    seed: u64,
    key: u64,
}

impl Default for TermDict {
    fn default() -> Self {
        let random = RandomState::new();
        TermDict {
            table: Vec::new(),
            ends: Vec::new(),
            arena: Vec::new(),
            seed: random.hash_one(0x243f_6a88_85a3_08d3_u64),
            key: random.hash_one(0x1319_8a2e_0370_7344_u64) | 1,
        }
    }
}

impl TermDict {
    /// A new, empty dictionary with the same hash keys.
    fn empty_like(&self) -> Self {
        TermDict {
            table: Vec::new(),
            ends: Vec::new(),
            arena: Vec::new(),
            seed: self.seed,
            key: self.key,
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn term(&self, id: usize) -> &[u8] {
        let start = if id == 0 {
            0
        } else {
            self.ends.get(id - 1).map_or(0, |&e| e as usize)
        };
        let end = self.ends.get(id).map_or(start, |&e| e as usize);
        self.arena.get(start..end).unwrap_or_default()
    }

    fn hash(&self, bytes: &[u8]) -> u64 {
        let mut state = self.seed ^ (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            state = folded_multiply(state ^ word, self.key);
        }
        // Tail read without a copy through memory (which showed up as a
        // store-forwarding stall); the length is already in the state.
        let rest = chunks.remainder();
        let n = rest.len();
        let tail = if n >= 4 {
            let lo = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let hi = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]);
            u64::from(lo) | (u64::from(hi) << 32)
        } else if n > 0 {
            u64::from(rest[0]) | (u64::from(rest[n / 2]) << 8) | (u64::from(rest[n - 1]) << 16)
        } else {
            0
        };
        folded_multiply(state ^ tail, self.key.rotate_left(29) | 1)
    }

    fn find(&self, term: &[u8], hash: u64) -> Result<usize, usize> {
        let mask = self.table.len().wrapping_sub(1);
        let tag = hash >> 32;
        let mut at = hash as usize & mask;
        loop {
            let Some(&entry) = self.table.get(at) else {
                return Err(at);
            };
            if entry == 0 {
                return Err(at);
            }
            if entry >> 32 == tag {
                let id = (entry as u32 as usize) - 1;
                if bytes_eq(self.term(id), term) {
                    return Ok(id);
                }
            }
            at = (at + 1) & mask;
        }
    }

    fn get(&self, term: &str) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        self.find(term.as_bytes(), self.hash(term.as_bytes())).ok()
    }

    /// Id of `term`, inserting it if new (ids are dense: a new id equals
    /// the previous `len()`). `None` only if the arena would pass 4 GiB.
    fn get_or_insert(&mut self, term: &str) -> Option<usize> {
        if (self.len() + 1) * 2 > self.table.len() {
            self.grow();
        }
        let bytes = term.as_bytes();
        let hash = self.hash(bytes);
        match self.find(bytes, hash) {
            Ok(id) => Some(id),
            Err(at) => {
                let end = u32::try_from(self.arena.len() + bytes.len()).ok()?;
                let id = self.ends.len();
                self.arena.extend_from_slice(bytes);
                self.ends.push(end);
                self.table[at] = ((hash >> 32) << 32) | (id as u64 + 1);
                Some(id)
            }
        }
    }

    fn grow(&mut self) {
        let capacity = (self.table.len() * 2).max(16);
        self.table = vec![0; capacity];
        for id in 0..self.len() {
            let hash = self.hash(self.term(id));
            if let Err(at) = self.find(self.term(id), hash) {
                self.table[at] = ((hash >> 32) << 32) | (id as u64 + 1);
            }
        }
    }

    fn shrink_to_fit(&mut self) {
        self.ends.shrink_to_fit();
        self.arena.shrink_to_fit();
    }

    fn memory_bytes(&self) -> usize {
        self.table.capacity() * 8 + self.ends.capacity() * 4 + self.arena.capacity()
    }
}

#[derive(Clone, Copy)]
struct Bm25 {
    /// k1·(1 − b)
    c0: f32,
    /// k1·b / avglen
    c1: f32,
}

struct Position {
    /// (term id, idf·(k1+1)) of the variants present in the index.
    terms: Vec<(usize, f32)>,
    stopword: bool,
    common: bool,
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
    dead: usize,
    live_length: u64,

    by_id: HashMap<Arc<str>, u32>,
    /// Ordered sets so paginated listing never sorts all documents.
    newest: BTreeSet<TimeKey>,
    newest_by_segment: HashMap<u32, BTreeSet<TimeKey>>,
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
        let mut index = Self::new();
        let mut pending: Vec<(u32, u32)> = Vec::with_capacity(BATCH + 1024);
        for (meta, doc) in docs {
            index.tombstone(&meta.id);
            if index.slot_id.len() >= MAX_SLOTS {
                index.flush(&mut pending);
                index.compact();
            }
            let Some(slot) = index.add_slot(meta, doc.length()) else {
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
        let Some(slot) = self.add_slot(meta, doc.length()) else {
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
    fn add_slot(&mut self, meta: DocMeta, length: u32) -> Option<u32> {
        if self.slot_id.len() >= MAX_SLOTS {
            return None;
        }
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
        self.live_length += u64::from(length);
        let key = (Reverse(meta.created_us), Reverse(Arc::clone(&id)));
        self.newest_by_segment
            .entry(segment)
            .or_default()
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
        let key = (Reverse(self.slot_created[slot]), Reverse(id));
        self.newest.remove(&key);
        let segment = self.slot_segment[slot];
        if let Some(set) = self.newest_by_segment.get_mut(&segment) {
            set.remove(&key);
            if set.is_empty() {
                self.newest_by_segment.remove(&segment);
            }
        }
        self.slot_id[slot] = None;
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
            + self.slot_created.capacity() * 8;
        let by_id = self.by_id.capacity() * (size_of::<(Arc<str>, u32)>() + 1);
        // Two B-tree entries per document, nodes ~2/3 full.
        let ordered = self.by_id.len() * 2 * size_of::<TimeKey>() * 3 / 2;
        postings + terms + ids + slots + by_id + ordered
    }

    fn predicate(&self, filter: SegmentFilter<'_>) -> Option<SegmentPredicate> {
        match filter {
            SegmentFilter::Any => Some(SegmentPredicate::Any),
            SegmentFilter::Exact(s) => self.segments.get(s).map(|&id| SegmentPredicate::Is(id)),
            SegmentFilter::SegmentOrGlobal(s) => Some(match self.segments.get(s) {
                Some(&id) => SegmentPredicate::IsOrGlobal(id),
                None => SegmentPredicate::Is(NO_SEGMENT),
            }),
        }
    }

    /// The slot of a posting and its BM25 contribution.
    #[inline]
    fn term_score(&self, weight: f32, posting: u32, bm25: Bm25) -> (u32, f32) {
        let slot = posting >> SLOT_SHIFT;
        let tf = (posting & TF_MASK) as f32;
        let len = self.slot_len.get(slot as usize).copied().unwrap_or(0) as f32;
        let score = weight * tf / (tf + bm25.c0 + bm25.c1 * len);
        let score = if posting & TAG_BIT != 0 {
            score * TAG_BOOST
        } else {
            score
        };
        (slot, score)
    }

    /// Ranked search. Returns the number of matching documents (after the
    /// segment filter) and the hits in `[offset, offset + limit)`, best first.
    pub fn search(
        &self,
        query: &Query,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<Hit>) {
        let live = self.by_id.len();
        if live == 0 || query.is_empty() {
            return (0, Vec::new());
        }
        let Some(predicate) = self.predicate(filter) else {
            return (0, Vec::new());
        };
        let n = self.slot_id.len();
        let avg_len = (self.live_length as f32 / live as f32).max(1.0);
        let bm25 = Bm25 {
            c0: K1 * (1.0 - B),
            c1: K1 * B / avg_len,
        };

        let mut positions = Vec::with_capacity(query.len());
        for term in query.terms() {
            let mut terms = Vec::with_capacity(term.variants().len());
            let mut min_df = usize::MAX;
            for variant in term.variants() {
                let Some(id) = self.terms.get(variant) else {
                    continue;
                };
                let df = self.postings.get(id).map_or(0, Vec::len);
                if df > 0 {
                    terms.push((id, idf(n, df) * (K1 + 1.0)));
                    min_df = min_df.min(df);
                }
            }
            if !terms.is_empty() {
                positions.push(Position {
                    terms,
                    stopword: term.is_stopword(),
                    common: n >= COMMON_MIN_DOCS && min_df.saturating_mul(COMMON_DF_DIVISOR) > n,
                });
            }
        }
        let selective = |p: &Position| !p.stopword && !p.common;
        let generates: Vec<bool> = if positions.iter().any(selective) {
            positions.iter().map(selective).collect()
        } else if positions.iter().any(|p| !p.stopword) {
            positions.iter().map(|p| !p.stopword).collect()
        } else {
            vec![true; positions.len()]
        };

        // Term-at-a-time accumulation into dense per-slot arrays: cheap to
        // allocate (zeroed pages) and cache friendly at 100k slots.
        let mut scores = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        let mut best: Vec<f32> = Vec::new();
        let mut best_touched: Vec<u32> = Vec::new();
        for (position, _) in positions.iter().zip(&generates).filter(|(_, g)| **g) {
            if let [(term, weight)] = position.terms[..] {
                let postings = &self.postings[term];
                for &posting in postings {
                    let (slot, score) = self.term_score(weight, posting, bm25);
                    let acc = &mut scores[slot as usize];
                    if *acc == 0.0 {
                        touched.push(slot);
                    }
                    *acc += score;
                }
            } else {
                // Several variants: a document scores its best variant once.
                if best.is_empty() {
                    best = vec![0f32; n];
                }
                for &(term, weight) in &position.terms {
                    let postings = &self.postings[term];
                    for &posting in postings {
                        let (slot, score) = self.term_score(weight, posting, bm25);
                        let acc = &mut best[slot as usize];
                        if *acc == 0.0 {
                            best_touched.push(slot);
                        }
                        if score > *acc {
                            *acc = score;
                        }
                    }
                }
                for slot in best_touched.drain(..) {
                    let value = std::mem::take(&mut best[slot as usize]);
                    let acc = &mut scores[slot as usize];
                    if *acc == 0.0 {
                        touched.push(slot);
                    }
                    *acc += value;
                }
            }
        }

        let mut candidates: Vec<u32> = touched
            .into_iter()
            .filter(|&slot| {
                let slot = slot as usize;
                self.slot_id[slot].is_some() && predicate.accepts(self.slot_segment[slot])
            })
            .collect();

        if generates.iter().any(|g| !g) && !candidates.is_empty() {
            candidates.sort_unstable();
            let mut extra = vec![0f32; candidates.len()];
            for (position, _) in positions.iter().zip(&generates).filter(|(_, g)| !**g) {
                extra.fill(0.0);
                for &(term, weight) in &position.terms {
                    let postings = &self.postings[term];
                    let mut at = 0;
                    for (i, &slot) in candidates.iter().enumerate() {
                        // Postings order by slot, so the lower bound of
                        // `slot << 8` is the first posting with that slot.
                        at = gallop(postings, at, slot << SLOT_SHIFT);
                        let Some(&found) = postings.get(at) else {
                            break;
                        };
                        if found >> SLOT_SHIFT == slot {
                            let (_, score) = self.term_score(weight, found, bm25);
                            if score > extra[i] {
                                extra[i] = score;
                            }
                        }
                    }
                }
                for (&slot, &value) in candidates.iter().zip(&extra) {
                    scores[slot as usize] += value;
                }
            }
        }

        let mut ranked: Vec<(f32, u32)> = candidates
            .iter()
            .map(|&slot| {
                let s = slot as usize;
                (scores[s] * priority_factor(self.slot_priority[s]), slot)
            })
            .collect();
        let total = ranked.len();
        let end = offset.saturating_add(limit).min(total);
        if offset >= end {
            return (total, Vec::new());
        }
        let order = |a: &(f32, u32), b: &(f32, u32)| -> Ordering {
            let (x, y) = (a.1 as usize, b.1 as usize);
            b.0.total_cmp(&a.0)
                .then_with(|| self.slot_created[y].cmp(&self.slot_created[x]))
                .then_with(|| self.slot_id[x].cmp(&self.slot_id[y]))
        };
        if end < total {
            ranked.select_nth_unstable_by(end - 1, order);
            ranked.truncate(end);
        }
        ranked.sort_unstable_by(order);
        let hits = ranked[offset..]
            .iter()
            .map(|&(score, slot)| Hit {
                id: self.slot_id[slot as usize]
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned(),
                score,
            })
            .collect();
        (total, hits)
    }

    /// Documents newest `created_us` first (ties: id descending). Returns the
    /// number of documents passing the filter and the ids in
    /// `[offset, offset + limit)`. Cost O(offset + limit), no sorting.
    pub fn list_newest(
        &self,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<String>) {
        fn page<'a>(
            keys: impl Iterator<Item = &'a TimeKey>,
            offset: usize,
            limit: usize,
        ) -> Vec<String> {
            keys.skip(offset)
                .take(limit)
                .map(|(_, Reverse(id))| id.to_string())
                .collect()
        }
        let segment_set = |s: &str| {
            self.segments
                .get(s)
                .and_then(|id| self.newest_by_segment.get(id))
        };
        match filter {
            SegmentFilter::Any => (self.newest.len(), page(self.newest.iter(), offset, limit)),
            SegmentFilter::Exact(s) => match segment_set(s) {
                Some(set) => (set.len(), page(set.iter(), offset, limit)),
                None => (0, Vec::new()),
            },
            SegmentFilter::SegmentOrGlobal(s) => {
                let own = segment_set(s);
                let global = self.newest_by_segment.get(&NO_SEGMENT);
                let total = own.map_or(0, BTreeSet::len) + global.map_or(0, BTreeSet::len);
                let merged = Merge {
                    a: own.into_iter().flatten().peekable(),
                    b: global.into_iter().flatten().peekable(),
                };
                (total, page(merged, offset, limit))
            }
        }
    }
}

/// Merges two disjoint ascending key streams.
struct Merge<A: Iterator, B: Iterator> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<'k, A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = &'k TimeKey>,
    B: Iterator<Item = &'k TimeKey>,
{
    type Item = &'k TimeKey;

    fn next(&mut self) -> Option<&'k TimeKey> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if x <= y => self.a.next(),
            (Some(_), Some(_)) => self.b.next(),
            (Some(_), None) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// Read-locks, recovering the guard if a writer panicked: the index holds no
/// invariant worth refusing service over (slot arrays are always extended
/// before postings refer to them).
pub fn read_lock<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks, recovering from poisoning (see [`read_lock`]).
pub fn write_lock<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// All tenants' indexes; share one instance between worker threads (e.g. in
/// `web::Data<Index>`). Each tenant has its own lock, so a write in one
/// tenant never blocks searches in another.
#[derive(Default)]
pub struct Index {
    tenants: RwLock<HashMap<String, Arc<RwLock<TenantIndex>>>>,
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// The tenant's index, created empty on first use.
    pub fn tenant(&self, slug: &str) -> Arc<RwLock<TenantIndex>> {
        if let Some(tenant) = self.existing(slug) {
            return tenant;
        }
        let mut tenants = write_lock(&self.tenants);
        Arc::clone(tenants.entry(slug.to_owned()).or_default())
    }

    fn existing(&self, slug: &str) -> Option<Arc<RwLock<TenantIndex>>> {
        read_lock(&self.tenants).get(slug).cloned()
    }

    /// Installs a tenant index built elsewhere (start-up load, re-analysis),
    /// replacing the current one atomically.
    pub fn replace_tenant(&self, slug: &str, index: TenantIndex) {
        let tenant = self.tenant(slug);
        *write_lock(&tenant) = index;
    }

    /// Forgets a tenant entirely; returns whether it existed.
    pub fn drop_tenant(&self, slug: &str) -> bool {
        write_lock(&self.tenants).remove(slug).is_some()
    }

    pub fn upsert(&self, slug: &str, meta: DocMeta, doc: &AnalyzedDoc) {
        let tenant = self.tenant(slug);
        write_lock(&tenant).upsert(meta, doc);
    }

    pub fn remove(&self, slug: &str, id: &str) -> bool {
        self.existing(slug)
            .is_some_and(|tenant| write_lock(&tenant).remove(id))
    }

    /// Number of documents of the tenant (0 if unknown).
    pub fn tenant_len(&self, slug: &str) -> usize {
        self.existing(slug)
            .map_or(0, |tenant| read_lock(&tenant).len())
    }

    /// See [`TenantIndex::search`]; an unknown tenant has no hits.
    pub fn search(
        &self,
        slug: &str,
        query: &Query,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<Hit>) {
        self.existing(slug).map_or((0, Vec::new()), |tenant| {
            read_lock(&tenant).search(query, filter, offset, limit)
        })
    }

    /// See [`TenantIndex::list_newest`]; an unknown tenant lists nothing.
    pub fn list_newest(
        &self,
        slug: &str,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<String>) {
        self.existing(slug).map_or((0, Vec::new()), |tenant| {
            read_lock(&tenant).list_newest(filter, offset, limit)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analyze::{analyze_doc, analyze_query};

    fn meta(id: &str, segment: Option<&str>, priority: u8, created_us: i64) -> DocMeta {
        DocMeta {
            id: id.to_owned(),
            segment: segment.map(str::to_owned),
            priority,
            created_us,
        }
    }

    fn add(index: &mut TenantIndex, id: &str, title: &str, content: &str) {
        let created = index.len() as i64;
        index.upsert(
            meta(id, None, 5, created),
            &analyze_doc(title, content, &[]),
        );
    }

    fn ids(index: &TenantIndex, query: &str) -> Vec<String> {
        let (total, hits) = index.search(&analyze_query(query), SegmentFilter::Any, 0, 100);
        assert_eq!(total, hits.len());
        hits.into_iter().map(|h| h.id).collect()
    }

    fn listed(index: &TenantIndex, filter: SegmentFilter<'_>) -> Vec<String> {
        let (total, ids) = index.list_newest(filter, 0, 10_000);
        assert_eq!(total, ids.len());
        ids
    }

    /// A tenant big enough that compaction is deferred (tombstones live).
    fn big_index(docs: usize) -> TenantIndex {
        let mut index = TenantIndex::new();
        for d in 0..docs {
            let terms = (0..120).map(|t| (format!("filler{}", (d * 7 + t * 13) % 5000), 1, false));
            let doc = AnalyzedDoc::from_parts(terms, 120);
            index.upsert(meta(&format!("bulk{d:05}"), None, 5, d as i64), &doc);
        }
        index
    }

    #[test]
    fn gallop_finds_lower_bound() {
        let slots = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21];
        for from in 0..slots.len() {
            for target in 0..24 {
                let expected = from + slots[from..].partition_point(|&s| s < target);
                assert_eq!(gallop(&slots, from, target), expected, "{from} {target}");
            }
        }
        assert_eq!(gallop(&[], 0, 5), 0);
    }

    #[test]
    fn stemmed_query_finds_inflected_document() {
        let mut index = TenantIndex::new();
        add(
            &mut index,
            "refund",
            "Refund policy",
            "How we refund an order.",
        );
        add(&mut index, "ship", "Shipping", "Orders ship in two days.");
        assert_eq!(ids(&index, "refunds"), ["refund"]);
        assert_eq!(ids(&index, "Refunding"), ["refund"]);
        assert_eq!(ids(&index, "shipped"), ["ship"]);
    }

    #[test]
    fn accents_are_folded() {
        let mut index = TenantIndex::new();
        add(
            &mut index,
            "fr",
            "Remboursement",
            "Le produit est remboursé sous cinq jours.",
        );
        add(
            &mut index,
            "cafe",
            "Le café",
            "Le cafe est offert à chaque visite.",
        );
        add(
            &mut index,
            "eleve",
            "Inscription",
            "Chaque élève reçoit une carte.",
        );
        assert_eq!(ids(&index, "remboursement"), ["fr"]);
        assert_eq!(ids(&index, "rembourse"), ["fr"]);
        assert_eq!(ids(&index, "cafe"), ["cafe"]);
        assert_eq!(ids(&index, "café"), ["cafe"]);
        assert_eq!(ids(&index, "Eleve"), ["eleve"]);
    }

    #[test]
    fn priority_breaks_ties_between_equally_relevant_entries() {
        let mut index = TenantIndex::new();
        let doc = analyze_doc("Password reset", "Use the reset link.", &[]);
        // The low-priority entry is newer, so without the boost it would win.
        index.upsert(meta("high", None, 8, 1), &doc);
        index.upsert(meta("low", None, 3, 2), &doc);
        index.upsert(meta("default", None, 5, 3), &doc);
        assert_eq!(ids(&index, "reset password"), ["high", "default", "low"]);
    }

    #[test]
    fn priority_does_not_beat_clearly_better_text_match() {
        let mut index = TenantIndex::new();
        index.upsert(
            meta("relevant", None, 1, 1),
            &analyze_doc("Password reset", "How to reset a forgotten password.", &[]),
        );
        index.upsert(
            meta("pushy", None, 10, 2),
            &analyze_doc(
                "Account security",
                "Choose a strong password for your account.",
                &[],
            ),
        );
        index.upsert(
            meta("unrelated", None, 10, 3),
            &analyze_doc("Shipping", "Parcels leave the warehouse daily.", &[]),
        );
        assert_eq!(ids(&index, "reset password"), ["relevant", "pushy"]);
    }

    #[test]
    fn tag_match_is_boosted() {
        let mut index = TenantIndex::new();
        // Same weighted frequency (tag x2 vs content twice) and length; the
        // untagged one is newer so it would win a tie.
        index.upsert(
            meta("tagged", None, 5, 1),
            &analyze_doc("Invoices", "Download monthly.", &["billing".to_owned()]),
        );
        index.upsert(
            meta("plain", None, 5, 2),
            &analyze_doc("Invoices", "Download billing monthly billing.", &[]),
        );
        let (_, hits) = index.search(&analyze_query("billing"), SegmentFilter::Any, 0, 10);
        assert_eq!(hits[0].id, "tagged");
        assert!(hits[0].score > hits[1].score * 1.2, "{hits:?}");
    }

    #[test]
    fn segment_filters_isolate_entries() {
        let mut index = TenantIndex::new();
        let doc = analyze_doc("Opening hours", "We are open daily.", &[]);
        index.upsert(meta("global", None, 5, 1), &doc);
        index.upsert(meta("paris", Some("paris"), 5, 2), &doc);
        index.upsert(meta("lyon", Some("lyon"), 5, 3), &doc);
        let q = analyze_query("opening hours");
        let search = |filter| {
            let (total, hits) = index.search(&q, filter, 0, 10);
            assert_eq!(total, hits.len());
            let mut ids: Vec<String> = hits.into_iter().map(|h| h.id).collect();
            ids.sort();
            ids
        };
        assert_eq!(search(SegmentFilter::Any), ["global", "lyon", "paris"]);
        assert_eq!(search(SegmentFilter::Exact("paris")), ["paris"]);
        assert_eq!(
            search(SegmentFilter::SegmentOrGlobal("paris")),
            ["global", "paris"]
        );
        assert_eq!(search(SegmentFilter::Exact("nice")), Vec::<String>::new());
        assert_eq!(search(SegmentFilter::SegmentOrGlobal("nice")), ["global"]);

        assert_eq!(
            listed(&index, SegmentFilter::Any),
            ["lyon", "paris", "global"]
        );
        assert_eq!(listed(&index, SegmentFilter::Exact("lyon")), ["lyon"]);
        assert_eq!(
            listed(&index, SegmentFilter::SegmentOrGlobal("lyon")),
            ["lyon", "global"]
        );
        assert_eq!(
            listed(&index, SegmentFilter::Exact("nice")),
            Vec::<String>::new()
        );
        assert_eq!(
            listed(&index, SegmentFilter::SegmentOrGlobal("nice")),
            ["global"]
        );
    }

    #[test]
    fn removed_doc_is_never_returned() {
        for mut index in [TenantIndex::new(), big_index(1_000)] {
            let doc = analyze_doc("Warranty", "Two year warranty on devices.", &[]);
            index.upsert(meta("keep", Some("s"), 5, 10_000), &doc);
            index.upsert(meta("gone", Some("s"), 5, 10_001), &doc);
            let before = index.len();
            assert!(index.remove("gone"));
            assert!(!index.remove("gone"));
            assert_eq!(index.len(), before - 1);
            for filter in [
                SegmentFilter::Any,
                SegmentFilter::Exact("s"),
                SegmentFilter::SegmentOrGlobal("s"),
            ] {
                let (total, hits) = index.search(&analyze_query("warranty"), filter, 0, 10);
                assert_eq!((total, hits.len()), (1, 1));
                assert_eq!(hits[0].id, "keep");
                assert!(!listed(&index, filter).contains(&"gone".to_owned()));
            }
            index.compact();
            assert_eq!(ids(&index, "warranty"), ["keep"]);
            assert!(!index.contains("gone"));
        }
    }

    #[test]
    fn tombstones_are_compacted_eventually() {
        let mut index = big_index(1_000);
        assert!(index.total_postings > CHEAP_COMPACTION_POSTINGS);
        for d in 0..200 {
            index.remove(&format!("bulk{d:05}"));
        }
        // 1/8 of 1000 slots reached at the 125th removal.
        assert!(index.dead < 125, "dead = {}", index.dead);
        assert_eq!(index.len(), 800);
        assert_eq!(index.slot_id.len(), 800 + index.dead);
        let (total, _) = index.list_newest(SegmentFilter::Any, 0, 0);
        assert_eq!(total, 800);
    }

    #[test]
    fn upsert_replaces_previous_version() {
        for mut index in [TenantIndex::new(), big_index(1_000)] {
            let base = index.len();
            index.upsert(
                meta("doc", None, 5, 1),
                &analyze_doc("Parking", "Free parking.", &[]),
            );
            index.upsert(
                meta("doc", Some("x"), 5, 2),
                &analyze_doc("Wifi", "Free wifi.", &[]),
            );
            assert_eq!(index.len(), base + 1);
            assert!(ids(&index, "parking").is_empty());
            assert_eq!(ids(&index, "wifi"), ["doc"]);
            assert_eq!(listed(&index, SegmentFilter::Exact("x")), ["doc"]);
            assert!(
                !listed(&index, SegmentFilter::SegmentOrGlobal("y")).contains(&"doc".to_owned())
            );
        }
    }

    #[test]
    fn list_newest_order_and_pagination() {
        let mut index = TenantIndex::new();
        let doc = AnalyzedDoc::default();
        for (id, created) in [("a", 10), ("b", 30), ("c", 20), ("d", 30), ("e", 5)] {
            index.upsert(meta(id, None, 5, created), &doc);
        }
        assert_eq!(
            listed(&index, SegmentFilter::Any),
            ["d", "b", "c", "a", "e"]
        );
        assert_eq!(
            index.list_newest(SegmentFilter::Any, 1, 2),
            (5, vec!["b".to_owned(), "c".to_owned()])
        );
        assert_eq!(
            index.list_newest(SegmentFilter::Any, 4, 10),
            (5, vec!["e".to_owned()])
        );
        assert_eq!(index.list_newest(SegmentFilter::Any, 9, 10), (5, vec![]));
        // Merged segment + global listing keeps the global order.
        index.upsert(meta("s1", Some("s"), 5, 25), &doc);
        index.upsert(meta("s2", Some("s"), 5, 1), &doc);
        assert_eq!(
            listed(&index, SegmentFilter::SegmentOrGlobal("s")),
            ["d", "b", "s1", "c", "a", "e", "s2"]
        );
        assert_eq!(
            index.list_newest(SegmentFilter::SegmentOrGlobal("s"), 2, 2),
            (7, vec!["s1".to_owned(), "c".to_owned()])
        );
    }

    #[test]
    fn search_pagination_is_consistent() {
        let mut index = TenantIndex::new();
        for i in 0..30 {
            let content = "refund ".repeat(1 + i % 7);
            index.upsert(
                meta(&format!("d{i:02}"), None, (1 + i % 10) as u8, i as i64),
                &analyze_doc("", &content, &[]),
            );
        }
        let q = analyze_query("refund");
        let (total, all) = index.search(&q, SegmentFilter::Any, 0, 100);
        assert_eq!(total, 30);
        assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
        let mut paged = Vec::new();
        for page in 0..4 {
            let (t, hits) = index.search(&q, SegmentFilter::Any, page * 8, 8);
            assert_eq!(t, 30);
            paged.extend(hits);
        }
        assert_eq!(paged, all);
        assert_eq!(index.search(&q, SegmentFilter::Any, 30, 5), (30, vec![]));
        assert_eq!(index.search(&q, SegmentFilter::Any, 0, 0), (30, vec![]));
    }

    #[test]
    fn common_terms_only_refine_rarer_matches() {
        let mut index = TenantIndex::new();
        for d in 0..1_200 {
            let mut terms = vec![
                ("common".to_owned(), 1, false),
                (format!("filler{d}"), 1, false),
            ];
            if d % 400 == 0 {
                terms.push(("rare".to_owned(), 1, false));
            }
            if d == 800 {
                terms[0].1 = 5;
            }
            index.upsert(
                meta(&format!("d{d}"), None, 5, d),
                &AnalyzedDoc::from_parts(terms, 3),
            );
        }
        let (total, hits) = index.search(&analyze_query("common rare"), SegmentFilter::Any, 0, 10);
        assert_eq!(total, 3, "common must not add candidates");
        assert_eq!(hits[0].id, "d800", "common still contributes to the score");
        let (total, _) = index.search(&analyze_query("common"), SegmentFilter::Any, 0, 10);
        assert_eq!(total, 1_200, "a query of common terms still works");
    }

    #[test]
    fn stopword_positions_only_refine_unless_alone() {
        let mut index = TenantIndex::new();
        add(&mut index, "comments", "Comment settings", "");
        add(&mut index, "moderation", "Moderation", "");
        add(&mut index, "both", "Comment moderation", "");
        assert_eq!(ids(&index, "comment"), ["both", "comments"]);
        assert_eq!(ids(&index, "comment moderation"), ["both", "moderation"]);
    }

    #[test]
    fn variants_of_one_position_are_not_summed() {
        // A short title is indexed with both stemmers: "refunding" yields
        // "refund" (English) and "refunding" (French), and the query
        // produces the same two variants for its single position.
        let mut index = TenantIndex::new();
        add(&mut index, "both", "Refunding", "");
        let one = AnalyzedDoc::from_parts([("refund", 3, false)], 3);
        let other = AnalyzedDoc::from_parts([("refunding", 3, false)], 3);
        index.upsert(meta("one", None, 5, 0), &one);
        index.upsert(meta("other", None, 5, 0), &other);
        let (_, hits) = index.search(&analyze_query("refunding"), SegmentFilter::Any, 0, 10);
        assert_eq!(hits.len(), 3);
        assert_eq!(hits[0].id, "both");
        // Equal idf for both variants: summing would double the score.
        let ratio = hits[0].score / hits[2].score;
        assert!((0.99..1.01).contains(&ratio), "{hits:?}");
    }

    #[test]
    fn bulk_build_matches_incremental_build() {
        let texts = [
            ("a", "Refund policy", "Refunds within 14 days.", None),
            (
                "b",
                "Shipping",
                "We ship to France and Belgium.",
                Some("eu"),
            ),
            (
                "c",
                "Remboursement",
                "Le remboursement est rapide.",
                Some("fr"),
            ),
            (
                "a",
                "Refund policy v2",
                "Refunds within 30 days, shipping included.",
                None,
            ),
            ("d", "Café", "Le café est offert.", Some("fr")),
        ];
        let docs: Vec<(DocMeta, AnalyzedDoc)> = texts
            .iter()
            .enumerate()
            .map(|(i, (id, title, content, seg))| {
                (
                    meta(id, *seg, 5, i as i64),
                    analyze_doc(title, content, &[]),
                )
            })
            .collect();
        let bulk = TenantIndex::from_docs(docs.clone());
        let mut incremental = TenantIndex::new();
        for (m, d) in &docs {
            incremental.upsert(m.clone(), d);
        }
        assert_eq!(bulk.len(), 4);
        for query in [
            "refund",
            "14 days",
            "30 days",
            "shipping",
            "remboursement",
            "cafe",
        ] {
            for filter in [SegmentFilter::Any, SegmentFilter::SegmentOrGlobal("fr")] {
                let q = analyze_query(query);
                assert_eq!(
                    bulk.search(&q, filter, 0, 10),
                    incremental.search(&q, filter, 0, 10),
                    "{query}"
                );
            }
        }
        assert_eq!(
            ids(&bulk, "14"),
            Vec::<String>::new(),
            "replaced version must be gone"
        );
        assert_eq!(
            bulk.list_newest(SegmentFilter::Any, 0, 10),
            incremental.list_newest(SegmentFilter::Any, 0, 10)
        );
    }

    #[test]
    fn shared_index_is_thread_safe_and_survives_poisoning() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Index>();
        let index = Arc::new(Index::new());
        index.upsert(
            "acme",
            meta("a", None, 5, 1),
            &analyze_doc("Refund", "", &[]),
        );
        index.upsert(
            "other",
            meta("b", None, 5, 1),
            &analyze_doc("Refund", "", &[]),
        );
        let poisoner = Arc::clone(&index);
        let result = std::thread::spawn(move || {
            let tenant = poisoner.tenant("acme");
            let _guard = write_lock(&tenant);
            panic!("poison the tenant lock");
        })
        .join();
        assert!(result.is_err());
        let q = analyze_query("refunds");
        assert_eq!(index.search("acme", &q, SegmentFilter::Any, 0, 10).0, 1);
        assert_eq!(
            index.search("other", &q, SegmentFilter::Any, 0, 10).1[0].id,
            "b"
        );
        assert_eq!(
            index.search("nobody", &q, SegmentFilter::Any, 0, 10),
            (0, vec![])
        );
        assert!(index.remove("acme", "a"));
        assert_eq!(index.tenant_len("acme"), 0);
        assert!(index.drop_tenant("other"));
        assert_eq!(
            index.list_newest("other", SegmentFilter::Any, 0, 10),
            (0, vec![])
        );
        index.replace_tenant(
            "fresh",
            TenantIndex::from_docs([(meta("x", None, 5, 1), analyze_doc("Wifi", "", &[]))]),
        );
        assert_eq!(
            index.list_newest("fresh", SegmentFilter::Any, 0, 10).1,
            ["x"]
        );
    }
}
