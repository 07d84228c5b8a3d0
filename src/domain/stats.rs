//! Usage statistics, kept per (tenant, UTC day, segment) and updated in the same write as
//! each chat exchange, so a report reads a few rows per day instead of every message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Distinct unanswered questions (and cited entries) remembered per day and segment; beyond
/// that, new ones are only counted in the totals. Bounds the row a chat turn rewrites.
pub const MAX_DISTINCT_PER_DAY: usize = 500;
/// Longest normalised question kept.
const MAX_QUESTION_CHARS: usize = 200;

/// What happened in one exchange, for the statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExchangeOutcome {
    /// The bot had nothing relevant and said so.
    pub fell_back: bool,
    /// Corpus entries the answer cited.
    pub cited: Vec<String>,
}

/// One (day, segment) row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayStats {
    pub conversations: u64,
    pub human_conversations: u64,
    pub agent_conversations: u64,
    pub messages: u64,
    pub answers: u64,
    pub fallbacks: u64,
    /// Corpus entry id -> times cited.
    pub cited: BTreeMap<String, u64>,
    /// Normalised question -> times it fell back.
    pub unanswered: BTreeMap<String, u64>,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str, by: u64) {
    let full = map.len() >= MAX_DISTINCT_PER_DAY;
    match map.get_mut(key) {
        Some(count) => *count += by,
        None if !full => {
            map.insert(key.to_string(), by);
        }
        None => {}
    }
}

impl DayStats {
    /// Counts one exchange (`new_conversation`: it started one, of that visitor type).
    pub fn record(
        &mut self,
        new_conversation: Option<bool>,
        question: &str,
        outcome: &ExchangeOutcome,
    ) {
        if let Some(agent) = new_conversation {
            self.conversations += 1;
            match agent {
                true => self.agent_conversations += 1,
                false => self.human_conversations += 1,
            }
        }
        self.messages += 2;
        self.answers += 1;
        for id in &outcome.cited {
            bump(&mut self.cited, id, 1);
        }
        if outcome.fell_back {
            self.fallbacks += 1;
            let normalised = normalise_question(question);
            if !normalised.is_empty() {
                bump(&mut self.unanswered, &normalised, 1);
            }
        }
    }

    pub fn add(&mut self, other: &DayStats) {
        self.conversations += other.conversations;
        self.human_conversations += other.human_conversations;
        self.agent_conversations += other.agent_conversations;
        self.messages += other.messages;
        self.answers += other.answers;
        self.fallbacks += other.fallbacks;
        for (id, n) in &other.cited {
            *self.cited.entry(id.clone()).or_default() += n;
        }
        for (q, n) in &other.unanswered {
            *self.unanswered.entry(q.clone()).or_default() += n;
        }
    }
}

/// Questions that differ only in case, accents, punctuation or spacing group together:
/// "Do you deliver to Spain?" and "do you  deliver to spain" are one question to add to the
/// knowledge base.
pub fn normalise_question(question: &str) -> String {
    let mut out = String::new();
    for word in question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
        if out.chars().count() >= MAX_QUESTION_CHARS {
            break;
        }
    }
    out.chars().take(MAX_QUESTION_CHARS).collect()
}

/// Days since the Unix epoch (UTC) of an instant: the statistics' row key.
pub fn day_of(at: Timestamp) -> i32 {
    at.micros().div_euclid(86_400_000_000) as i32
}

/// The instant a day starts.
pub fn day_start(day: i32) -> Timestamp {
    Timestamp::from_micros(i64::from(day) * 86_400_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_group_by_words_not_by_spelling() {
        assert_eq!(
            normalise_question("  Do you DELIVER to Spain?? "),
            "do you deliver to spain"
        );
        assert_eq!(
            normalise_question("do you deliver, to spain"),
            normalise_question("Do you deliver to Spain?")
        );
        assert_eq!(normalise_question("?!"), "");
        assert!(normalise_question(&"word ".repeat(100)).chars().count() <= 200);
    }

    #[test]
    fn rows_count_exchanges_and_stay_bounded() {
        let mut day = DayStats::default();
        let fell_back = ExchangeOutcome {
            fell_back: true,
            cited: vec![],
        };
        let answered = ExchangeOutcome {
            fell_back: false,
            cited: vec!["corp_a".into()],
        };
        day.record(Some(false), "Pizza?", &fell_back);
        day.record(None, "pizza", &fell_back);
        day.record(Some(true), "Refunds?", &answered);
        assert_eq!(day.conversations, 2);
        assert_eq!((day.human_conversations, day.agent_conversations), (1, 1));
        assert_eq!((day.messages, day.answers, day.fallbacks), (6, 3, 2));
        assert_eq!(day.unanswered.get("pizza"), Some(&2));
        assert_eq!(day.cited.get("corp_a"), Some(&1));
        for n in 0..MAX_DISTINCT_PER_DAY + 50 {
            day.record(None, &format!("question {n}"), &fell_back);
        }
        assert_eq!(day.unanswered.len(), MAX_DISTINCT_PER_DAY);
        assert_eq!(day.fallbacks, 2 + MAX_DISTINCT_PER_DAY as u64 + 50);
        assert_eq!(day_of(day_start(20_000)), 20_000);
        assert_eq!(day_of(Timestamp::from_micros(-1)), -1);
    }
}
