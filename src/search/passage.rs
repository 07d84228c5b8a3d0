//! Picks the excerpt of an entry to show (or to feed a language model) for
//! a query, using the same analysis as the index so that whatever made the
//! entry a hit is what the excerpt is chosen for.

use super::FastMap;
use super::lang::detect_lang;
use super::query::Query;
use super::tokenize::{for_each_token, for_each_variant, is_token_char};

const ELLIPSIS: char = '…';
/// A window also earns this fraction of the match weight of each of its
/// sentences, so among windows covering the same query words the one with
/// more matching sentences wins.
const REPEAT_BONUS: f64 = 0.1;

struct Sentence {
    start: usize,
    end: usize,
    char_start: usize,
    char_end: usize,
    mask: u64,
    /// Byte offset of the first matching word.
    first_match: Option<usize>,
    /// Whether a passage may begin here: a capital, digit or opening quote
    /// at a sentence start, or any word at the start of a line; never a
    /// closing bracket, a lowercase continuation or a bare footnote marker.
    can_start: bool,
}

/// Characters of lightweight markup that may open a line ("# Title",
/// "* item", "> quote") and are dropped from the start of a passage.
const MARKUP: &[char] = &['#', '*', '-', '>', '`', '|', '•', '+', '=', '_', '~'];
/// Windows are at most this many sentences: an answer, not a chapter.
const MAX_WINDOW_SENTENCES: usize = 3;
/// A window ending on a match is extended by one sentence while it is
/// shorter than this, so a bare "Yes." comes with its explanation.
const MIN_PASSAGE_CHARS: usize = 80;

fn strip_markup(text: &str) -> &str {
    text.trim_start_matches(|c: char| MARKUP.contains(&c) || c.is_whitespace())
}

fn can_start(text: &str, line_start: bool) -> bool {
    let text = strip_markup(text);
    let Some(first) = text.chars().next() else {
        return false;
    };
    // "^[2]", "[1]", "(3)": footnote markers and stray numbering.
    if text.chars().filter(|c| c.is_alphabetic()).count() < 3 {
        return false;
    }
    if line_start {
        return first.is_alphanumeric()
            || matches!(first, '"' | '«' | '“' | '\'' | '(' | '¿' | '¡');
    }
    first.is_uppercase() || first.is_numeric() || matches!(first, '"' | '«' | '“' | '¿' | '¡')
}

/// Returns the most relevant contiguous passage of `content` for `query`,
/// at most `max_chars` characters (Unicode scalar values, "…" included).
///
/// Content is split into sentences (terminal punctuation followed by
/// whitespace, and line breaks); each sentence is scored by the query
/// positions it matches, weighted by how rare they are among the sentences.
/// The best window of consecutive whole sentences that fits is returned,
/// starting at a matching sentence and extended with following sentences
/// while they fit. If the best match is a sentence longer than `max_chars`,
/// the part around its first matching word is cut at word boundaries with
/// "…" marking the cuts. Without any match (an entry found by meaning), its
/// first sentences are returned, as many as a window holds, or the start of
/// the content cut at a word boundary.
pub fn best_passage(content: &str, query: &Query, max_chars: usize) -> String {
    passage(content, query, max_chars).text
}

/// An excerpt and the query positions it contains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Passage {
    pub text: String,
    /// Bit i set when the excerpt contains a form of query position i:
    /// with the position weights this tells how much of the question the
    /// excerpt itself answers (the proximity part of relevance).
    pub matched: u64,
}

/// [`best_passage`] with the positions the chosen window matches.
pub fn passage(content: &str, query: &Query, max_chars: usize) -> Passage {
    Located::in_text(content, query).passage(content, max_chars)
}

/// Where a query's words are in a text, sentence by sentence: windows for several budgets
/// are cut from one reading of the text (reading it is the costly part).
pub struct Located {
    sentences: Vec<Sentence>,
}

impl Located {
    pub fn in_text(content: &str, query: &Query) -> Located {
        Located {
            sentences: score_sentences(content, query),
        }
    }

    /// The passage of `content`, the text these locations were found in, for a budget.
    pub fn passage(&self, content: &str, max_chars: usize) -> Passage {
        debug_assert!(self.sentences.last().is_none_or(|s| s.end <= content.len()));
        if max_chars == 0 {
            return Passage::default();
        }
        let sentences = &self.sentences;
        let best =
            best_window(sentences, max_chars).or_else(|| leading_window(sentences, max_chars));
        let Some(best) = best else {
            return Passage {
                text: truncate_at_word(strip_markup(content), max_chars),
                matched: 0,
            };
        };
        match best {
            Window::Sentences(i, j) => Passage {
                text: strip_markup(&content[sentences[i].start..sentences[j].end]).to_owned(),
                matched: sentences[i..=j].iter().fold(0, |mask, s| mask | s.mask),
            },
            Window::Oversized(i) => Passage {
                text: excerpt_around(content, &sentences[i], max_chars),
                matched: sentences[i].mask,
            },
        }
    }
}

enum Window {
    /// Sentences `i..=j`, fitting in the budget.
    Sentences(usize, usize),
    /// One sentence too long to fit, to be cut around its first match.
    Oversized(usize),
}

fn score_sentences(content: &str, query: &Query) -> Vec<Sentence> {
    let mut sentences = split_sentences(content);
    if query.is_empty() || sentences.is_empty() {
        return sentences;
    }
    // Stopword positions only count when the query has nothing else, as in
    // the index.
    let any_content = query.terms().iter().any(|t| !t.is_stopword());
    let mut by_variant: FastMap<&str, u64> = FastMap::default();
    for (i, term) in query.terms().iter().enumerate().take(64) {
        if any_content && term.is_stopword() {
            continue;
        }
        for variant in term.variants() {
            *by_variant.entry(variant.as_str()).or_default() |= 1 << i;
        }
    }
    if by_variant.is_empty() {
        return sentences;
    }

    let lang = detect_lang(content);
    // Most words of an entry match nothing. The variants of an ASCII word start with its
    // first letter (stemmers cut suffixes), so a word whose first letter starts no variant
    // of the question is skipped without being analysed.
    let mut initials = [false; 128];
    for variant in by_variant.keys() {
        if let Some(&first) = variant.as_bytes().first().filter(|b| b.is_ascii()) {
            initials[usize::from(first)] = true;
        }
    }
    // Words repeat (Zipf): each distinct word is analysed once.
    let mut cache: FastMap<&str, u64> = FastMap::default();
    let mut sentence = 0;
    for (start, word) in raw_words(content) {
        let cannot_match = word.is_ascii()
            && word
                .as_bytes()
                .first()
                .is_some_and(|&first| !initials[usize::from(first.to_ascii_lowercase())]);
        if cannot_match {
            continue;
        }
        let mask = *cache.entry(word).or_insert_with(|| {
            let mut mask = 0;
            for_each_token(word, |token| {
                if lang.is_stopword(token) {
                    return;
                }
                for_each_variant(token, lang, |v| {
                    mask |= by_variant.get(v).copied().unwrap_or(0);
                });
            });
            mask
        });
        if mask == 0 {
            continue;
        }
        while sentence < sentences.len() && sentences[sentence].end <= start {
            sentence += 1;
        }
        let Some(s) = sentences.get_mut(sentence) else {
            break;
        };
        if s.start <= start {
            s.mask |= mask;
            s.first_match.get_or_insert(start);
        }
    }
    sentences
}

/// Words of the original text with their byte offsets (before NFKC, so the
/// offsets are valid in `text`).
fn raw_words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = None;
    let mut chars = text.char_indices();
    std::iter::from_fn(move || {
        loop {
            match chars.next() {
                Some((i, c)) if is_token_char(c) => {
                    start.get_or_insert(i);
                }
                Some((i, _)) => {
                    if let Some(s) = start.take() {
                        return Some((s, &text[s..i]));
                    }
                }
                None => return start.take().map(|s| (s, &text[s..])),
            }
        }
    })
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？')
}

fn split_sentences(text: &str) -> Vec<Sentence> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut line_start = true;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\n' {
            spans.push((start, i, line_start));
            start = i + 1;
            line_start = true;
        } else if is_terminator(c) && chars.peek().is_none_or(|&(_, next)| next.is_whitespace()) {
            let end = i + c.len_utf8();
            spans.push((start, end, line_start));
            start = end;
            line_start = false;
        }
    }
    spans.push((start, text.len(), line_start));

    let mut sentences = Vec::with_capacity(spans.len());
    let (mut counted_bytes, mut counted_chars) = (0, 0);
    for (a, b, line_start) in spans {
        let span = &text[a..b];
        let trimmed = span.trim();
        if trimmed.is_empty() {
            continue;
        }
        let start = a + (span.len() - span.trim_start().len());
        let end = start + trimmed.len();
        let char_start = counted_chars + text[counted_bytes..start].chars().count();
        let char_end = char_start + trimmed.chars().count();
        (counted_bytes, counted_chars) = (end, char_end);
        sentences.push(Sentence {
            start,
            end,
            char_start,
            char_end,
            mask: 0,
            first_match: None,
            can_start: can_start(trimmed, line_start),
        });
    }
    sentences
}

/// The first sentences (from the first that can start a passage), as many as a window holds
/// within the budget: what an entry says first is what it is about.
fn leading_window(sentences: &[Sentence], max_chars: usize) -> Option<Window> {
    let first = sentences.iter().position(|s| s.can_start)?;
    let start = sentences[first].char_start;
    let last = sentences
        .iter()
        .enumerate()
        .skip(first)
        .take(MAX_WINDOW_SENTENCES)
        .take_while(|(_, s)| s.char_end - start <= max_chars)
        .last()?
        .0;
    Some(Window::Sentences(first, last))
}

fn best_window(sentences: &[Sentence], max_chars: usize) -> Option<Window> {
    // Rarer query words weigh more: ln(1 + sentences / sentences matching).
    let mut matching = [0usize; 64];
    for s in sentences {
        for (bit, count) in matching.iter_mut().enumerate() {
            *count += usize::from(s.mask & (1 << bit) != 0);
        }
    }
    let total = sentences.len() as f64;
    let weights: Vec<f64> = matching
        .iter()
        .map(|&m| {
            if m == 0 {
                0.0
            } else {
                (1.0 + total / m as f64).ln()
            }
        })
        .collect();
    let weigh = |mask: u64| -> f64 {
        (0..64)
            .filter(|bit| mask & (1 << bit) != 0)
            .map(|bit| weights[bit])
            .sum()
    };

    let mut best: Option<(f64, Window)> = None;
    for (i, matching) in sentences.iter().enumerate() {
        if matching.mask == 0 {
            continue;
        }
        // Begin at the matching sentence, or at the closest clean start
        // just before it (the sentence it continues).
        let Some(first_index) = (i.saturating_sub(MAX_WINDOW_SENTENCES - 1)..=i)
            .rev()
            .find(|&j| sentences[j].can_start)
        else {
            continue;
        };
        let first = &sentences[first_index];
        let (score, window) = if matching.char_end - first.char_start > max_chars {
            if first_index != i || matching.char_end - matching.char_start <= max_chars {
                continue;
            }
            (weigh(first.mask), Window::Oversized(i))
        } else {
            let (mut covered, mut repeated, mut last) = (0u64, 0.0, first_index);
            let mut last_match = i;
            for (j, s) in sentences
                .iter()
                .enumerate()
                .skip(first_index)
                .take(MAX_WINDOW_SENTENCES)
            {
                if s.char_end - first.char_start > max_chars {
                    break;
                }
                covered |= s.mask;
                repeated += weigh(s.mask);
                last = j;
                if s.mask != 0 {
                    last_match = j;
                }
            }
            // Stop at the last sentence that matters, unless that leaves
            // too little to read.
            let mut end = last_match.max(i);
            if sentences[end].char_end - first.char_start < MIN_PASSAGE_CHARS && end < last {
                end += 1;
            }
            (
                weigh(covered) + REPEAT_BONUS * repeated,
                Window::Sentences(first_index, end),
            )
        };
        if best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, window));
        }
    }
    best.map(|(_, window)| window)
}

/// Cuts an oversized sentence so that its first matching word is shown with
/// a little context before it.
fn excerpt_around(content: &str, sentence: &Sentence, max_chars: usize) -> String {
    let text = &content[sentence.start..sentence.end];
    if max_chars < 4 {
        return truncate_at_word(text, max_chars);
    }
    let anchor = sentence
        .first_match
        .map_or(0, |m| m.saturating_sub(sentence.start));
    let lead = max_chars / 4;
    let chars_before = text[..anchor].chars().count();
    if chars_before <= lead {
        return truncate_at_word(text, max_chars);
    }
    // Start `lead` chars before the match, moved forward to a word start.
    let mut start = text[..anchor]
        .char_indices()
        .nth(chars_before - lead)
        .map_or(anchor, |(i, _)| i);
    if let Some(space) = text[start..anchor].find(char::is_whitespace) {
        start += space;
    }
    let rest = text[start..].trim_start();
    let mut out = String::with_capacity(max_chars * 2);
    out.push(ELLIPSIS);
    out.push_str(&truncate_at_word(rest, max_chars - 1));
    out
}

fn ends_sentence(text: &str) -> bool {
    text.chars().next_back().is_some_and(is_terminator)
}

/// The start of `text` within `max_chars`, cut at a word boundary when one
/// is reasonably close, with "…" appended only if the cut is mid-sentence.
fn truncate_at_word(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    if text.char_indices().nth(max_chars).is_none() {
        return text.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let budget = max_chars - 1;
    let cut = text
        .char_indices()
        .nth(budget)
        .map_or(text.len(), |(i, _)| i);
    let mut prefix = &text[..cut];
    if !text[cut..].starts_with(char::is_whitespace) {
        // Only back off to a space if that keeps at least half the budget;
        // otherwise one huge "word" (a URL) would leave almost nothing.
        if let Some(space) = prefix.rfind(char::is_whitespace)
            && prefix[..space].chars().count() * 2 >= budget
        {
            prefix = &prefix[..space];
        }
    }
    let prefix = prefix.trim_end();
    if ends_sentence(prefix) {
        prefix.to_owned()
    } else {
        format!("{prefix}{ELLIPSIS}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analyze_query;

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    fn filler(sentences: usize) -> String {
        let mut text = String::new();
        for i in 0..sentences {
            text.push_str(&format!(
                "Section {i} describes the general terms of use of our service in detail. "
            ));
            if i % 7 == 6 {
                text.push('\n');
            }
        }
        text
    }

    #[test]
    fn finds_answer_sentence_in_large_content() {
        let answer = "Refunds are issued to the original payment method within 14 days.";
        let mut content = filler(350);
        content.push_str(answer);
        content.push(' ');
        content.push_str(&filler(350));
        assert!(content.len() > 50_000, "{}", content.len());
        for max in [80, 200, 500] {
            let passage = best_passage(&content, &analyze_query("how long do refunds take?"), max);
            assert!(chars(&passage) <= max, "{max}: {passage}");
            assert!(passage.contains(answer), "{max}: {passage}");
        }
        // The sentence alone does not fit: cut around the match, still bounded.
        let passage = best_passage(&content, &analyze_query("payment method"), 40);
        assert!(chars(&passage) <= 40, "{passage}");
        assert!(passage.contains("payment"), "{passage}");
    }

    #[test]
    fn prefers_window_covering_more_query_words() {
        let content = "Our shop sells shoes. Delivery is free in France. \
                       Delivery to Belgium costs five euros. Returns are free.";
        let passage = best_passage(content, &analyze_query("delivery Belgium"), 60);
        assert_eq!(
            passage,
            "Delivery to Belgium costs five euros. Returns are free."
        );
        // No match: the leading whole sentences that fit, never a cut one.
        let passage = best_passage(content, &analyze_query("livraison"), 60);
        assert_eq!(passage, "Our shop sells shoes. Delivery is free in France.");
    }

    #[test]
    fn prefers_window_with_more_matching_sentences() {
        let content = "Refunds exist. Nothing else here at all today. \
                       Refund rules: see below. Refunds take five days.";
        let passage = best_passage(content, &analyze_query("refund"), 60);
        assert_eq!(passage, "Refund rules: see below. Refunds take five days.");
    }

    #[test]
    fn french_accents_match_in_passages() {
        let content = "Bienvenue dans notre aide. Le remboursement est effectué sous cinq jours. \
                       Un café est offert aux élèves.";
        let passage = best_passage(content, &analyze_query("rembourse"), 50);
        assert_eq!(passage, "Le remboursement est effectué sous cinq jours.");
        let passage = best_passage(content, &analyze_query("eleve cafe"), 40);
        assert_eq!(passage, "Un café est offert aux élèves.");
    }

    #[test]
    fn no_match_returns_start_at_word_boundary() {
        let content = "Alpha beta gamma delta. Epsilon zeta eta theta iota.";
        let passage = best_passage(content, &analyze_query("unrelated"), 20);
        assert_eq!(passage, "Alpha beta gamma…");
        assert!(chars(&passage) <= 20);
        // Cut right after a sentence: no ellipsis.
        assert_eq!(
            best_passage(content, &analyze_query("x"), 25),
            "Alpha beta gamma delta."
        );
        assert_eq!(best_passage(content, &analyze_query("x"), 1000), content);
        assert_eq!(best_passage(content, &analyze_query("x"), 0), "");
        // An entry found by meaning alone is quoted by its first sentences, not all of it.
        let long = "One. Two is here. Three. Four is more. Five.";
        assert_eq!(
            best_passage(long, &analyze_query("unrelated"), 1000),
            "One. Two is here. Three."
        );
        assert_eq!(best_passage("", &analyze_query("alpha"), 10), "");
    }

    #[test]
    fn never_cuts_inside_a_character_and_respects_budget() {
        let content = "ééééé ".repeat(50) + "clé ûû " + &"çççç ".repeat(50);
        for max in 1..60 {
            for query in ["clé", "nothing"] {
                let passage = best_passage(&content, &analyze_query(query), max);
                assert!(chars(&passage) <= max, "{max} {passage}");
            }
        }
        let passage = best_passage(&content, &analyze_query("clé"), 30);
        assert!(passage.contains("clé"), "{passage}");
        assert!(
            passage.starts_with('…') && passage.ends_with('…'),
            "{passage}"
        );
    }

    #[test]
    fn never_starts_mid_sentence_or_on_a_footnote_marker() {
        let content = "Returns are possible (see the form at example.com/returns. ) If you'd like \
                       a refund, write to us within 30 days.";
        let passage = best_passage(content, &analyze_query("refund"), 200);
        assert!(passage.starts_with("Returns are possible"), "{passage}");

        let content = "Shipping takes two days.\n^[2]\nRefunds are paid within 30 days.";
        let passage = best_passage(content, &analyze_query("refunds"), 200);
        assert_eq!(passage, "Refunds are paid within 30 days.");

        let content = "# Refunds\n* Refunds are paid within 30 days.";
        let passage = best_passage(content, &analyze_query("refunds paid"), 200);
        assert!(passage.starts_with("Refunds"), "{passage}");
        assert!(
            passage.contains("Refunds are paid within 30 days."),
            "{passage}"
        );
    }

    #[test]
    fn window_is_at_most_three_sentences_around_the_match() {
        let content = "Intro one here. Refunds are paid within 30 days. They go to your card. \
                       Shipping is free. Stores open daily. Gift cards exist. Returns are easy.";
        let passage = best_passage(content, &analyze_query("refunds"), 1200);
        assert!(passage.starts_with("Refunds are paid"), "{passage}");
        assert!(!passage.contains("Stores open"), "{passage}");
        let sentences = passage.matches(". ").count() + 1;
        assert!(sentences <= 3, "{passage}");
    }
}
