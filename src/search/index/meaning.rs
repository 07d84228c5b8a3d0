//! The entries' meaning vectors of one tenant, by slot: the semantic half of chat retrieval.
//!
//! A question's similarity to an entry is the dot product of their vectors *minus the
//! question's similarity to the average of the other entries* of the language it is asked in. Raw cosines
//! of static embeddings sit at a level that depends on the question and on the language
//! (French texts share many subword tokens, so every French pair looks alike); what tells
//! that an entry is about the question is how far it stands above the rest of the corpus.
//! The average is kept as a running sum, so it costs nothing per question. Leaving the entry
//! itself out of it matters for small tenants (with six entries, the right one would be a
//! sixth of the average it is compared with) and means a corpus of one entry per language
//! never answers by meaning: the lexical evidence decides.

use super::super::lang::Lang;
use super::super::semantic::{DIM, Packed, Signs, Vector, hamming};

/// Similarity given up by an entry written in the other language than the question: the
/// French page answers a French visitor even when the English original is a little closer.
const OTHER_LANGUAGE_PENALTY: f32 = 0.1;

/// Up to this many entries, a question is compared with every entry's vector (int8 dot
/// products, about 0.15 ms per 10,000 entries). Above, it is first compared with every
/// entry's signs (16 bytes and two popcounts each, several times cheaper and 8 times less
/// memory to read) and the int8 similarity is computed for the [`SHORTLIST`] closest only.
/// On the evaluation sets, the 256 entries closest by signs held 98-99.9% of the 8 closest
/// by int8 vectors; the shortlist is twice that.
const EXACT_SCAN_MAX: usize = 16_384;
const SHORTLIST: usize = 512;

/// Language buckets of the running sums: by `lang_slot`.
const BUCKETS: usize = 3;

/// Whether a document written in `written` suits a question asked in `asked` (either unknown
/// suits everything).
pub(super) fn same_language(asked: Option<Lang>, written: Option<Lang>) -> bool {
    !matches!((asked, written), (Some(a), Some(w)) if a != w)
}

fn penalty(same_language: bool) -> f32 {
    if same_language {
        0.0
    } else {
        OTHER_LANGUAGE_PENALTY
    }
}

/// The buckets a question in `lang` is compared with: its language's, or all.
fn buckets_of(lang: Option<Lang>) -> &'static [usize] {
    match lang {
        Some(Lang::English) => &[0],
        Some(Lang::French) => &[1],
        _ => &[0, 1, 2],
    }
}

/// What a question's similarities are measured against: its dot product with the sum of the
/// vectors of the entries in its language, and how many they are.
#[derive(Clone, Copy, Debug)]
pub(super) struct Baseline {
    asked: Option<Lang>,
    total: f32,
    count: u32,
}

impl Baseline {
    /// `raw` (the question's dot product with an entry written in `written`), less the
    /// penalty of another language and the question's similarity to the average of the
    /// *other* entries of its language; `None` when there are none to compare with.
    fn centre(&self, raw: f32, written: Option<Lang>) -> Option<f32> {
        let counted = buckets_of(self.asked).contains(&bucket(written));
        let (total, count) = if counted {
            (self.total - raw, self.count.saturating_sub(1))
        } else {
            (self.total, self.count)
        };
        if count == 0 {
            return None;
        }
        Some(raw - total / count as f32 - penalty(same_language(self.asked, written)))
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
    /// By slot, the vectors' signs (none set without a vector: such an entry may make the
    /// shortlist, and is skipped by the int8 pass): the large tenants' first pass.
    signs: Vec<Signs>,
    /// Sum of the live vectors per language bucket, and how many there are.
    sums: [[f32; DIM]; BUCKETS],
    counts: [u32; BUCKETS],
}

impl Default for Meanings {
    fn default() -> Self {
        Meanings {
            vectors: Vec::new(),
            signs: Vec::new(),
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
        self.signs.push(packed.signs());
        self.vectors.push(packed);
    }

    /// Forgets the vector of a removed slot in the averages (the slot keeps it until
    /// compaction, as every other per-slot array does).
    pub(super) fn tombstone(&mut self, slot: usize, lang: Option<Lang>) {
        if let Some(signs) = self.signs.get_mut(slot) {
            *signs = Signs::default();
        }
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
        let kept: Vec<bool> = (0..self.vectors.len()).map(&mut keep).collect();
        let mut slot = 0;
        self.vectors.retain(|_| {
            slot += 1;
            kept[slot - 1]
        });
        let mut slot = 0;
        self.signs.retain(|_| {
            slot += 1;
            kept[slot - 1]
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
        self.signs.shrink_to_fit();
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.vectors.capacity() * std::mem::size_of::<Packed>()
            + self.signs.capacity() * std::mem::size_of::<Signs>()
    }

    /// The question's similarity to the entries of `lang` (every entry when the question's
    /// language is unknown).
    pub(super) fn baseline(&self, question: &Vector, lang: Option<Lang>) -> Baseline {
        let buckets = buckets_of(lang);
        let count: u32 = buckets.iter().map(|&b| self.counts[b]).sum();
        let total: f32 = buckets
            .iter()
            .map(|&b| {
                self.sums[b]
                    .iter()
                    .zip(question)
                    .map(|(s, q)| s * q)
                    .sum::<f32>()
            })
            .sum();
        Baseline {
            asked: lang,
            total,
            count,
        }
    }

    /// How much more the entry in `slot`, written in `written`, is about the question than
    /// the others (see [`Baseline::centre`]); `None` when the entry has no vector or there
    /// are no others.
    pub(super) fn similarity(
        &self,
        slot: usize,
        question: &Packed,
        baseline: &Baseline,
        written: Option<Lang>,
    ) -> Option<f32> {
        let raw = self.get(slot)?.dot_packed(question);
        baseline.centre(raw, written)
    }

    /// The `count` slots closest in meaning to the question, best first, among those `admit`
    /// accepts, with their [`similarity`](Self::similarity): every slot of a small tenant,
    /// the [`SHORTLIST`] closest by signs of a large one. The loop is kept to one dot
    /// product and one comparison for an entry that does not make the list (the filter runs
    /// only for those that would).
    pub(super) fn closest(
        &self,
        question: &Packed,
        baseline: &Baseline,
        count: usize,
        written: impl Fn(usize) -> Option<Lang>,
        admit: impl Fn(usize) -> bool,
    ) -> Vec<(f32, u32)> {
        let shortlist = (self.vectors.len() > EXACT_SCAN_MAX).then(|| self.shortlist(question));
        let slots: Box<dyn Iterator<Item = usize>> = match shortlist {
            Some(list) => Box::new(list.into_iter()),
            None => Box::new(0..self.vectors.len()),
        };
        let mut closest: Vec<(f32, u32)> = Vec::with_capacity(count + 1);
        let mut floor = f32::NEG_INFINITY;
        for slot in slots {
            let Some(packed) = self.vectors.get(slot).filter(|p| !p.is_zero()) else {
                continue;
            };
            let Some(value) = baseline.centre(packed.dot_packed(question), written(slot)) else {
                continue;
            };
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
        closest
    }

    /// The slots whose signs are closest to the question's: at least [`SHORTLIST`] of them
    /// (all those at the cut-off distance are kept), in slot order. A histogram of the
    /// distances finds the cut-off in two linear passes, without sorting.
    fn shortlist(&self, question: &Packed) -> Vec<usize> {
        let asked = question.signs();
        // At most 128: a byte each.
        let distances: Vec<u8> = self
            .signs
            .iter()
            .map(|signs| hamming(signs, &asked) as u8)
            .collect();
        let mut histogram = [0_usize; 256];
        for &d in &distances {
            histogram[usize::from(d)] += 1;
        }
        let mut kept = 0;
        let cutoff = histogram
            .iter()
            .position(|&n| {
                kept += n;
                kept >= SHORTLIST
            })
            .unwrap_or(DIM);
        distances
            .iter()
            .enumerate()
            .filter(|&(_, &d)| usize::from(d) <= cutoff)
            .map(|(slot, _)| slot)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::semantic::embed;

    /// Short texts made of everyday words, so their vectors have the structure of real ones.
    fn texts(count: usize, seed: u64) -> Vec<String> {
        const WORDS: [&str; 48] = [
            "refund",
            "delivery",
            "password",
            "account",
            "invoice",
            "shipping",
            "garden",
            "kitchen",
            "printer",
            "network",
            "holiday",
            "booking",
            "ticket",
            "concert",
            "train",
            "airport",
            "doctor",
            "insurance",
            "salary",
            "contract",
            "keyboard",
            "screen",
            "battery",
            "charger",
            "coffee",
            "recipe",
            "bicycle",
            "helmet",
            "school",
            "lesson",
            "window",
            "heating",
            "plumber",
            "parking",
            "license",
            "passport",
            "museum",
            "library",
            "camera",
            "lens",
            "wallet",
            "bank",
            "loan",
            "garage",
            "engine",
            "tyre",
            "weather",
            "umbrella",
        ];
        let mut state = seed | 1;
        (0..count)
            .map(|_| {
                let mut pick = || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    WORDS[(state % WORDS.len() as u64) as usize]
                };
                format!("How to {} the {} with a {}", pick(), pick(), pick())
            })
            .collect()
    }

    #[test]
    fn a_large_tenant_shortlists_by_signs_and_keeps_the_closest_entries() {
        let mut meanings = Meanings::default();
        let entries = texts(EXACT_SCAN_MAX + 2_000, 7);
        for text in &entries {
            meanings.push(embed(text).map(|v| Packed::pack(&v)), None);
        }
        assert!(meanings.vectors.len() > EXACT_SCAN_MAX);
        let (mut found, mut wanted) = (0, 0);
        for question in texts(40, 99) {
            let Some(vector) = embed(&question) else {
                continue;
            };
            let question = Packed::pack(&vector);
            let baseline = meanings.baseline(&vector, None);
            let shortlisted = meanings.closest(&question, &baseline, 8, |_| None, |_| true);
            // Every entry compared, as a small tenant does.
            let mut exact: Vec<(f32, u32)> = (0..meanings.vectors.len())
                .filter_map(|slot| {
                    let value = meanings.similarity(slot, &question, &baseline, None)?;
                    Some((value, slot as u32))
                })
                .collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            let best = exact[7].0;
            // Entries tied with the eighth are all equally right.
            let right = |value: f32| value >= best - 1e-6;
            found += shortlisted.iter().filter(|&&(v, _)| right(v)).count();
            wanted += 8;
            assert!(shortlisted.windows(2).all(|w| w[0].0 >= w[1].0));
        }
        let recall = found as f64 / wanted as f64;
        assert!(recall >= 0.95, "recall of the 8 closest: {recall:.3}");
    }
}
