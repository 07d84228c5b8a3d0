//! The entries' meaning vectors of one tenant, by slot: the semantic half of chat retrieval.
//!
//! A question's similarity to an entry is the dot product of their vectors *minus the
//! question's similarity to the average entry* of the language it is asked in. Raw cosines
//! of static embeddings sit at a level that depends on the question and on the language
//! (French texts share many subword tokens, so every French pair looks alike); what tells
//! that an entry is about the question is how far it stands above the rest of the corpus.
//! The average is kept as a running sum, so it costs nothing per question. A corpus of one
//! entry per language thus never answers by meaning alone: the lexical evidence decides.

use super::super::lang::Lang;
use super::super::semantic::{DIM, Packed, Vector};

/// Similarity given up by an entry written in the other language than the question: the
/// French page answers a French visitor even when the English original is a little closer.
const OTHER_LANGUAGE_PENALTY: f32 = 0.1;

/// Language buckets of the running sums: by `lang_slot`.
const BUCKETS: usize = 3;

fn penalty(same_language: bool) -> f32 {
    if same_language {
        0.0
    } else {
        OTHER_LANGUAGE_PENALTY
    }
}

fn bucket(lang: Option<Lang>) -> usize {
    match lang {
        Some(Lang::English) => 0,
        Some(Lang::French) => 1,
        None | Some(Lang::Both) => 2,
    }
}

pub(super) struct Meanings {
    /// By slot, [`Packed::ZERO`] for an entry without text: one flat array, scanned whole
    /// for every question.
    vectors: Vec<Packed>,
    /// Sum of the live vectors per language bucket, and how many there are.
    sums: [[f32; DIM]; BUCKETS],
    counts: [u32; BUCKETS],
}

impl Default for Meanings {
    fn default() -> Self {
        Meanings {
            vectors: Vec::new(),
            sums: [[0.0; DIM]; BUCKETS],
            counts: [0; BUCKETS],
        }
    }
}

impl Meanings {
    /// Registers the vector of a new slot (slots are appended in order).
    pub(super) fn push(&mut self, meaning: Option<Packed>, lang: Option<Lang>) {
        let packed = meaning.unwrap_or(Packed::ZERO);
        if !packed.is_zero() {
            self.add(&packed, lang, 1.0);
        }
        self.vectors.push(packed);
    }

    /// Forgets the vector of a removed slot in the averages (the slot keeps it until
    /// compaction, as every other per-slot array does).
    pub(super) fn tombstone(&mut self, slot: usize, lang: Option<Lang>) {
        if let Some(stored) = self.vectors.get_mut(slot) {
            let packed = std::mem::replace(stored, Packed::ZERO);
            if !packed.is_zero() {
                self.add(&packed, lang, -1.0);
            }
        }
    }

    fn add(&mut self, packed: &Packed, lang: Option<Lang>, sign: f32) {
        let b = bucket(lang);
        for (sum, value) in self.sums[b].iter_mut().zip(packed.unpack()) {
            *sum += sign * value;
        }
        self.counts[b] = if sign > 0.0 {
            self.counts[b].saturating_add(1)
        } else {
            self.counts[b].saturating_sub(1)
        };
    }

    pub(super) fn get(&self, slot: usize) -> Option<&Packed> {
        self.vectors.get(slot).filter(|packed| !packed.is_zero())
    }

    /// Keeps the vectors of the slots `keep` says are live, in order (compaction).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut slot = 0;
        self.vectors.retain(|_| {
            let kept = keep(slot);
            slot += 1;
            kept
        });
    }

    /// Sums the live vectors again (after compaction, `langs` by the new slots): additions and
    /// removals in any order leave rounding behind, and a snapshot read back must rank as the
    /// index that wrote it.
    pub(super) fn recount(&mut self, langs: &[Option<Lang>]) {
        self.sums = [[0.0; DIM]; BUCKETS];
        self.counts = [0; BUCKETS];
        let vectors = std::mem::take(&mut self.vectors);
        for (packed, &lang) in vectors.iter().zip(langs) {
            if !packed.is_zero() {
                self.add(packed, lang, 1.0);
            }
        }
        self.vectors = vectors;
    }

    pub(super) fn shrink_to_fit(&mut self) {
        self.vectors.shrink_to_fit();
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.vectors.capacity() * std::mem::size_of::<Packed>()
    }

    /// The question's similarity to the average entry of `lang` (every entry when the
    /// question's language is unknown).
    pub(super) fn baseline(&self, question: &Vector, lang: Option<Lang>) -> f32 {
        let buckets: &[usize] = match lang {
            Some(Lang::English) => &[0],
            Some(Lang::French) => &[1],
            _ => &[0, 1, 2],
        };
        let count: u32 = buckets.iter().map(|&b| self.counts[b]).sum();
        if count == 0 {
            return 0.0;
        }
        let dot: f32 = buckets
            .iter()
            .map(|&b| {
                self.sums[b]
                    .iter()
                    .zip(question)
                    .map(|(s, q)| s * q)
                    .sum::<f32>()
            })
            .sum();
        dot / count as f32
    }

    /// How much more the entry in `slot` is about the question than the average entry
    /// (`baseline`), less the other-language penalty; `None` when the entry has no vector.
    pub(super) fn similarity(
        &self,
        slot: usize,
        question: &Packed,
        baseline: f32,
        same_language: bool,
    ) -> Option<f32> {
        let raw = self.get(slot)?.dot_packed(question);
        Some(raw - baseline - penalty(same_language))
    }

    /// The `count` slots closest in meaning to the question, best first, among those `admit`
    /// accepts, with their [`similarity`](Self::similarity). Every vector of the tenant is
    /// read for every question, so the loop is kept to one dot product and one comparison
    /// for an entry that does not make the list (the filter runs only for those that would).
    pub(super) fn closest(
        &self,
        question: &Packed,
        baseline: f32,
        count: usize,
        same_language: impl Fn(usize) -> bool,
        admit: impl Fn(usize) -> bool,
    ) -> Vec<(f32, u32)> {
        let mut closest: Vec<(f32, u32)> = Vec::with_capacity(count + 1);
        let mut floor = f32::NEG_INFINITY;
        for (slot, packed) in self.vectors.iter().enumerate() {
            if packed.is_zero() {
                continue;
            }
            let value = packed.dot_packed(question) - penalty(same_language(slot));
            if value <= floor || !admit(slot) {
                continue;
            }
            let at = closest.partition_point(|&(v, _)| v >= value);
            closest.insert(at, (value, slot as u32));
            if closest.len() > count {
                closest.truncate(count);
            }
            if closest.len() == count {
                floor = closest.last().map_or(floor, |&(v, _)| v);
            }
        }
        for entry in &mut closest {
            entry.0 -= baseline;
        }
        closest
    }
}
