//! Term -> dense id dictionary of one tenant index.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

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
pub(super) struct TermDict {
    /// 0 = empty, else `tag << 32 | (id + 1)`.
    table: Vec<u64>,
    /// End offset of each term in `arena`; a term starts where the previous
    /// one ends.
    ends: Vec<u32>,
    arena: Vec<u8>,
    seed: u64,
    key: u64,
    /// Term ids by (first byte, byte length): the candidates a typo or
    /// prefix lookup scans, a few hundred terms instead of the dictionary.
    shapes: HashMap<u16, Vec<u32>>,
}

fn shape(first: u8, len: usize) -> u16 {
    (u16::from(first) << 8) | len.min(255) as u16
}

/// Shortest words completed as prefixes ("debi" -> "debian"); below this a
/// prefix matches too much to mean anything.
const MIN_PREFIX_BYTES: usize = 4;
/// How much longer than the typed prefix a completion may be.
const MAX_COMPLETION_BYTES: usize = 6;

/// Optimal-string-alignment distance (insert, delete, substitute, swap of
/// neighbours) if it is at most `max`, else `None`. Rows are cut off as
/// soon as every cell exceeds `max`.
pub(super) fn edit_distance(a: &[u8], b: &[u8], max: u8) -> Option<u8> {
    let max = usize::from(max);
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        let mut row_min = current[0];
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut value = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                value = value.min(before[j - 2] + 1);
            }
            current[j] = value;
            row_min = row_min.min(value);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= max).then_some(distance as u8)
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
            shapes: HashMap::new(),
        }
    }
}

impl TermDict {
    /// A new, empty dictionary with the same hash keys.
    pub(super) fn empty_like(&self) -> Self {
        TermDict {
            table: Vec::new(),
            ends: Vec::new(),
            arena: Vec::new(),
            seed: self.seed,
            key: self.key,
            shapes: HashMap::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn term(&self, id: usize) -> &[u8] {
        let start = if id == 0 {
            0
        } else {
            self.ends.get(id - 1).map_or(0, |&e| e as usize)
        };
        let end = self.ends.get(id).map_or(start, |&e| e as usize);
        self.arena.get(start..end).unwrap_or_default()
    }

    pub(super) fn hash(&self, bytes: &[u8]) -> u64 {
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

    pub(super) fn find(&self, term: &[u8], hash: u64) -> Result<usize, usize> {
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

    pub(super) fn get(&self, term: &str) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        self.find(term.as_bytes(), self.hash(term.as_bytes())).ok()
    }

    /// Id of `term`, inserting it if new (ids are dense: a new id equals
    /// the previous `len()`). `None` only if the arena would pass 4 GiB.
    pub(super) fn get_or_insert(&mut self, term: &str) -> Option<usize> {
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
                if let Some(&first) = bytes.first() {
                    self.shapes
                        .entry(shape(first, bytes.len()))
                        .or_default()
                        .push(id as u32);
                }
                Some(id)
            }
        }
    }

    pub(super) fn grow(&mut self) {
        let capacity = (self.table.len() * 2).max(16);
        self.table = vec![0; capacity];
        for id in 0..self.len() {
            let hash = self.hash(self.term(id));
            if let Err(at) = self.find(self.term(id), hash) {
                self.table[at] = ((hash >> 32) << 32) | (id as u64 + 1);
            }
        }
    }

    pub(super) fn shrink_to_fit(&mut self) {
        for ids in self.shapes.values_mut() {
            ids.shrink_to_fit();
        }
        self.ends.shrink_to_fit();
        self.arena.shrink_to_fit();
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.table.capacity() * 8
            + self.ends.capacity() * 4
            + self.arena.capacity()
            + self
                .shapes
                .values()
                .map(|v| v.capacity() * 4 + 32)
                .sum::<usize>()
    }

    /// Terms a mistyped or unfinished `term` may stand for, appended to
    /// `out` as (id, edits): within `max_edits` edits with the same first
    /// letter (people rarely mistype it, and it keeps the scan small), or
    /// longer terms starting with it (edits 0).
    pub(super) fn near(&self, term: &str, max_edits: u8, out: &mut Vec<(usize, u8)>) {
        let bytes = term.as_bytes();
        let Some(&first) = bytes.first() else {
            return;
        };
        let len = bytes.len();
        let edits = usize::from(max_edits);
        for candidate_len in len.saturating_sub(edits).max(1)..=len + edits {
            for &id in self
                .shapes
                .get(&shape(first, candidate_len))
                .into_iter()
                .flatten()
            {
                let candidate = self.term(id as usize);
                if let Some(distance) = edit_distance(bytes, candidate, max_edits)
                    && distance > 0
                {
                    out.push((id as usize, distance));
                }
            }
        }
        if len >= MIN_PREFIX_BYTES {
            for candidate_len in len + 1..=len + MAX_COMPLETION_BYTES {
                for &id in self
                    .shapes
                    .get(&shape(first, candidate_len))
                    .into_iter()
                    .flatten()
                {
                    if self.term(id as usize).starts_with(bytes) {
                        out.push((id as usize, 0));
                    }
                }
            }
        }
    }
}
