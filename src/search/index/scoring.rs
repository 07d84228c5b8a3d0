//! Ranked evaluation of a query against one tenant index (BM25, see the parent module).

use std::borrow::Cow;
use std::cmp::Ordering;

use super::super::query::{Query, allowed_typos};
use super::super::semantic::{Packed, Vector};
use super::super::tokenize::for_each_one_edit_stem;
use super::meaning::{Baseline, same_language};
use super::*;

#[derive(Clone, Copy)]
struct Bm25 {
    /// k1·(1 − b)
    c0: f32,
    /// k1·b / avglen
    c1: f32,
}

struct Position {
    /// (term id, idf·(k1+1)) of the variants present in the index (or of
    /// their typo/prefix corrections, weight already discounted).
    terms: Vec<(usize, f32)>,
    stopword: bool,
    common: bool,
    /// Index into `Explained::weights` (the query position).
    query_position: usize,
    /// Found only through typo or prefix corrections.
    corrected: bool,
}

/// A search with what the relevance decision needs besides the ranking.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Explained {
    /// Documents matching (after the segment filter).
    pub total: usize,
    /// The requested page, best first; `coverage` and `matched` filled.
    pub hits: Vec<Hit>,
    /// Per query position (same order as `Query::terms`): how much
    /// information it carries, idf of its rarest matching form; a word
    /// absent from the whole corpus ("pizza") weighs the most, stopwords 0
    /// (unless the query has nothing else).
    pub weights: Vec<f32>,
    /// Per query position, the dictionary terms it was corrected to when
    /// absent as typed ("debain" -> "debian"); empty for exact positions.
    pub corrections: Vec<Vec<String>>,
    /// Bits of the positions (the first 64) whose word the corpus lacks entirely, as typed
    /// and corrected: those that weigh the most in `weights`.
    pub absent: u64,
}

/// Corrections of one word never take more than this many dictionary terms:
/// a short prefix could otherwise fan out to thousands of postings lists.
const MAX_EXPANSIONS: usize = 8;
/// Share of its weight a position found only through a correction covers.
const CORRECTED_COVERAGE: f32 = 0.6;
/// Typos allowed in the words (9 characters or more) whose misspellings are also looked
/// for one edit away on the word rather than on its stem (see
/// [`for_each_one_edit_stem`]): a long word's suffix is what its stem drops, and a typo
/// there or before it keeps it ("diffrence", "permssion", "installnig"). Shorter words are
/// mostly whole stems, and one edit from a short word finds many other words ("carry" /
/// "carré").
const LONG_WORD_TYPOS: u8 = 2;
/// That search stems about 55 words per letter (0.35 ms for a 10-13 letter word), so it is
/// bounded: words up to 20 letters ("internationalization"; longer tokens are identifiers,
/// not mistyped words), and 4 such words per query, so a message of 32 long made-up words
/// costs a few milliseconds, not fifty.
const WORD_EDITS_MAX_CHARS: usize = 20;
pub(super) const WORD_EDITS_PER_QUERY: usize = 4;
/// Documents added to a query's hits for their meaning alone (when the query carries a
/// meaning vector): a paraphrase shares few words with its answer, so the answer may be far
/// down the lexical ranking or absent from it.
const MEANING_CANDIDATES: usize = 4;

impl TenantIndex {
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
        let explained = self.explain(query, filter, offset, limit);
        (explained.total, explained.hits)
    }

    /// [`search`](Self::search) plus, for each hit, which query positions it
    /// matches and the idf-weighted share of the query they represent, and
    /// the weight of each position: what a relevance decision needs.
    pub fn explain(
        &self,
        query: &Query,
        filter: SegmentFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> Explained {
        let live = self.by_id.len();
        if live == 0 || query.is_empty() {
            return Explained::default();
        }
        let Some(predicate) = self.predicate(filter) else {
            return Explained::default();
        };
        let n = self.slot_id.len();
        let avg_len = (self.live_length as f32 / live as f32).max(1.0);
        let bm25 = Bm25 {
            c0: K1 * (1.0 - B),
            c1: K1 * B / avg_len,
        };

        let only_stopwords = query.terms().iter().all(|t| t.is_stopword());
        let mut weights: Vec<Option<f32>> = Vec::with_capacity(query.len());
        let mut corrections_used = vec![Vec::new(); query.len()];
        let mut positions = Vec::with_capacity(query.len());
        let mut near = Vec::new();
        let mut word_edits_left = WORD_EDITS_PER_QUERY;
        for (query_position, term) in query.terms().iter().enumerate() {
            let mut terms = Vec::with_capacity(term.variants().len());
            let mut min_df = usize::MAX;
            let mut max_df = 0;
            for variant in term.variants() {
                let Some(id) = self.terms.get(variant) else {
                    continue;
                };
                let df = self.postings.get(id).map_or(0, Vec::len);
                if df > 0 {
                    terms.push((id, idf(n, df) * (K1 + 1.0)));
                    min_df = min_df.min(df);
                    max_df = max_df.max(df);
                }
            }
            let corrected = terms.is_empty() && !term.is_stopword() && term.is_tolerant();
            if corrected {
                // Absent as typed: a typo or a word cut short. Corrections
                // score below exact matches so a correct spelling elsewhere
                // still wins.
                near.clear();
                for variant in term.variants() {
                    // The stem must be long enough too: "taxes" stems to
                    // "tax", one edit from "tex".
                    let budget = term.typos().min(allowed_typos(variant.chars().count()));
                    self.terms.near(variant, budget, &mut near);
                }
                near.sort_unstable();
                near.dedup_by_key(|(id, _)| *id);
                let mut corrections: Vec<(usize, u8, usize)> = near
                    .iter()
                    .map(|&(id, edits)| (id, edits, self.postings.get(id).map_or(0, Vec::len)))
                    .filter(|&(_, _, df)| df > 0)
                    .collect();
                if corrections.is_empty()
                    && term.typos() >= LONG_WORD_TYPOS
                    && term.word().chars().count() <= WORD_EDITS_MAX_CHARS
                    && word_edits_left > 0
                {
                    // The typo kept the suffix the right spelling loses to its stem.
                    word_edits_left -= 1;
                    for_each_one_edit_stem(term.word(), |stem| {
                        if let Some(id) = self.terms.get(stem) {
                            let df = self.postings.get(id).map_or(0, Vec::len);
                            if df > 0 {
                                corrections.push((id, 1, df));
                            }
                        }
                    });
                }
                corrections.sort_unstable_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)));
                corrections.truncate(MAX_EXPANSIONS);
                for (id, edits, df) in corrections {
                    let discount = match edits {
                        0 => PREFIX_DISCOUNT,
                        1 => ONE_TYPO_DISCOUNT,
                        _ => TWO_TYPOS_DISCOUNT,
                    };
                    terms.push((id, idf(n, df) * (K1 + 1.0) * discount));
                    min_df = min_df.min(df);
                    max_df = max_df.max(df);
                    if let Ok(word) = std::str::from_utf8(self.terms.term(id)) {
                        corrections_used[query_position].push(word.to_owned());
                    }
                }
            }
            let framing_absent = max_df == 0 && term.is_framing();
            weights.push(
                if (term.is_stopword() && !only_stopwords) || framing_absent {
                    Some(0.0)
                } else if max_df == 0 {
                    None
                } else {
                    // The commonest matching form decides how informative the
                    // word is.
                    Some(idf(n, max_df))
                },
            );
            if !terms.is_empty() {
                positions.push(Position {
                    terms,
                    stopword: term.is_stopword(),
                    common: n >= COMMON_MIN_DOCS && min_df.saturating_mul(COMMON_DF_DIVISOR) > n,
                    query_position,
                    corrected,
                });
            }
        }
        // A word the corpus lacks entirely ("pizza") says the question is
        // about something else, so it weighs as much as the most specific
        // word present, but no more: chatter ("annoying", "plz") must not
        // outweigh the words that do name the topic. With nothing present,
        // every position weighs the same and nothing is covered.
        let absent_positions = weights
            .iter()
            .enumerate()
            .take(64)
            .filter(|(_, w)| w.is_none())
            .fold(0u64, |mask, (i, _)| mask | (1 << i));
        let heaviest = weights.iter().flatten().copied().fold(0.0, f32::max);
        let absent = if heaviest > 0.0 { heaviest } else { 1.0 };
        let weights: Vec<f32> = weights.into_iter().map(|w| w.unwrap_or(absent)).collect();
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

        let final_score = |slot: u32| {
            let s = slot as usize;
            let lang = if same_language(query.lang(), self.slot_lang[s]) {
                1.0
            } else {
                OTHER_LANGUAGE_FACTOR
            };
            scores[s] * priority_factor(self.slot_priority[s]) * lang
        };
        let mut ranked: Vec<(f32, u32)> = candidates
            .iter()
            .map(|&slot| (final_score(slot), slot))
            .collect();
        let total = ranked.len();
        let end = offset.saturating_add(limit).min(total);
        let order = |a: &(f32, u32), b: &(f32, u32)| -> Ordering {
            let (x, y) = (a.1 as usize, b.1 as usize);
            b.0.total_cmp(&a.0)
                .then_with(|| self.slot_created[y].cmp(&self.slot_created[x]))
                .then_with(|| self.slot_id[x].cmp(&self.slot_id[y]))
        };
        if end < total && end > 0 {
            ranked.select_nth_unstable_by(end - 1, order);
        }
        ranked.truncate(end);
        ranked.sort_unstable_by(order);
        let mut page = ranked.split_off(offset.min(ranked.len()));
        let (similarities, corrected_similarities) = match (
            query.meaning(),
            query.meaning_as_corrected(&corrections_used),
        ) {
            (Some(typed), Some(corrected)) if offset == 0 => {
                let lexical = page.len();
                let asked = self.asked(&corrected, query.lang());
                self.add_by_meaning(&asked, predicate, &mut page);
                for (score, slot) in page.iter_mut().skip(lexical) {
                    *score = final_score(*slot);
                }
                let corrected_similarities = self.similarities(&asked, &page);
                let similarities = match corrected {
                    Cow::Borrowed(_) => corrected_similarities.clone(),
                    Cow::Owned(_) => self.similarities(&self.asked(typed, query.lang()), &page),
                };
                (similarities, corrected_similarities)
            }
            _ => (vec![None; page.len()], vec![None; page.len()]),
        };
        let weight_sum: f32 = weights.iter().sum();
        let hits = page
            .iter()
            .zip(similarities.into_iter().zip(corrected_similarities))
            .map(|(&(score, slot), (similarity, corrected_similarity))| {
                let matched = self.matched_positions(slot, &positions);
                // A corrected word is a guess: it covers less than a word
                // found as typed.
                let covered: f32 = positions
                    .iter()
                    .filter(|p| p.query_position < 32 && matched & (1 << p.query_position) != 0)
                    .map(|p| {
                        let weight = weights.get(p.query_position).copied().unwrap_or(0.0);
                        if p.corrected {
                            weight * CORRECTED_COVERAGE
                        } else {
                            weight
                        }
                    })
                    .sum();
                Hit {
                    id: self.slot_id[slot as usize]
                        .as_deref()
                        .unwrap_or_default()
                        .to_owned(),
                    score,
                    coverage: if weight_sum > 0.0 {
                        covered / weight_sum
                    } else {
                        0.0
                    },
                    matched,
                    similarity,
                    corrected_similarity,
                }
            })
            .collect();
        Explained {
            total,
            hits,
            weights,
            corrections: corrections_used,
            absent: absent_positions,
        }
    }

    /// Appends to `page` (the lexical hits) the [`MEANING_CANDIDATES`] live documents passing
    /// the filter that are closest in meaning to the question and not on it yet (with a
    /// score of 0, set by the caller; see [`Meanings::closest`] for how the tenant's vectors
    /// are read).
    fn add_by_meaning(
        &self,
        asked: &Asked,
        predicate: SegmentPredicate,
        page: &mut Vec<(f32, u32)>,
    ) {
        let written = |slot: usize| self.slot_lang[slot];
        let closest = self.meanings.closest(
            &asked.packed,
            &asked.baseline,
            MEANING_CANDIDATES + page.len(),
            written,
            |slot| predicate.accepts(self.slot_segment[slot]),
        );
        let added: Vec<(f32, u32)> = closest
            .into_iter()
            .filter(|&(_, slot)| !page.iter().any(|&(_, s)| s == slot))
            .take(MEANING_CANDIDATES)
            .map(|(_, slot)| (0.0, slot))
            .collect();
        page.extend(added);
    }

    /// Each page entry's similarity to the question.
    fn similarities(&self, asked: &Asked, page: &[(f32, u32)]) -> Vec<Option<f32>> {
        page.iter()
            .map(|&(_, slot)| {
                let slot = slot as usize;
                self.meanings
                    .similarity(slot, &asked.packed, &asked.baseline, self.slot_lang[slot])
            })
            .collect()
    }

    /// A question's vector as the tenant's vectors are compared with it: packed, and its
    /// baseline in the question's language (computed once per vector, for the search of the
    /// closest entries and for every page entry's similarity).
    fn asked(&self, question: &Vector, lang: Option<Lang>) -> Asked {
        Asked {
            packed: Packed::pack(question),
            baseline: self.meanings.baseline(question, lang),
        }
    }

    /// Bit i set when the document contains a form of query position i
    /// (binary search in each postings list: only run for returned hits).
    fn matched_positions(&self, slot: u32, positions: &[Position]) -> u32 {
        let mut mask = 0u32;
        for position in positions {
            let found = position.terms.iter().any(|&(term, _)| {
                self.postings.get(term).is_some_and(|postings| {
                    let at = postings.partition_point(|&p| p >> SLOT_SHIFT < slot);
                    postings.get(at).is_some_and(|&p| p >> SLOT_SHIFT == slot)
                })
            });
            if found && position.query_position < 32 {
                mask |= 1 << position.query_position;
            }
        }
        mask
    }
}

/// See [`TenantIndex::asked`].
struct Asked {
    packed: Packed,
    baseline: Baseline,
}
