//! Answer composition. The retrieval answer is built only from passages of the tenant's own
//! corpus entries (the relevant sentences, never a whole 50,000-character entry) wrapped in a
//! few words of the bot's persona; when nothing is relevant enough it says so and offers the
//! segment's conversation starters instead of inventing anything.

use crate::chat::llm::ChatMessage;
use crate::domain::CorpusEntry;
use crate::search::{self, AnalyzedDoc, Query};

/// The tenant settings that shape how the bot speaks.
#[derive(Debug, Clone)]
pub struct Persona {
    pub bot_name: String,
    pub bot_title: String,
    pub bot_lore: String,
    pub tone: String,
    pub tutoiement: bool,
    pub emojis: bool,
}

/// What the answer may offer from the segment.
#[derive(Debug, Clone, Default)]
pub struct SegmentInfo {
    pub system_prompt: String,
    pub welcome_message: String,
    pub starters: Vec<String>,
}

/// A corpus entry judged relevant, with the passage that answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrieved {
    pub id: String,
    pub title: String,
    pub passage: String,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    /// The entries the text was built from; empty for the fallback.
    pub sources: Vec<Retrieved>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    English,
    French,
}

/// Secondary entries join the answer only when they score at least this share of the best.
const SECONDARY_SHARE: f32 = 0.6;
/// At most this many entries feed one answer.
pub const MAX_SOURCES: usize = 3;

/// How many of the query's content words an entry must contain to count as relevant: a third
/// of them, at least one, and never more than three (long messages carry many side words).
fn required_matches(content_terms: usize) -> usize {
    content_terms.div_ceil(3).clamp(1, 3)
}

/// How many of the query's content (non-stopword) positions the analysed entry contains.
fn matched_positions(query: &Query, doc: &AnalyzedDoc) -> (usize, usize) {
    let doc_terms: std::collections::HashSet<&str> = doc.terms().map(|(t, _, _)| t).collect();
    let content: Vec<_> = query.terms().iter().filter(|t| !t.is_stopword()).collect();
    let matched = content
        .iter()
        .filter(|t| t.variants().iter().any(|v| doc_terms.contains(v.as_str())))
        .count();
    (matched, content.len())
}

/// Keeps the ranked hits that really answer the query and cuts their passages.
/// `hits` are best first. The passage budget is shared by the entries kept.
pub fn select_relevant(
    query: &Query,
    hits: Vec<(CorpusEntry, f32)>,
    max_chars: usize,
) -> Vec<Retrieved> {
    let mut kept: Vec<(CorpusEntry, f32)> = Vec::new();
    for (entry, score) in hits {
        if kept.len() == MAX_SOURCES {
            break;
        }
        if kept
            .first()
            .is_some_and(|(_, best)| score < best * SECONDARY_SHARE)
        {
            break;
        }
        let (matched, content) = matched_positions(
            query,
            &search::analyze_doc(&entry.title, &entry.content, &entry.tags),
        );
        if content > 0 && matched >= required_matches(content) {
            kept.push((entry, score));
        } else if kept.is_empty() {
            // The best-ranked entry is not relevant enough: nothing below it will be.
            break;
        }
    }
    let budget = max_chars / kept.len().max(1);
    kept.into_iter()
        .map(|(entry, score)| Retrieved {
            passage: search::best_passage(&entry.content, query, budget),
            id: entry.id,
            title: entry.title,
            score,
        })
        .collect()
}

/// Guesses whether a visitor writes French or English from common function words.
pub fn detect_lang(text: &str) -> Lang {
    const FRENCH: &[&str] = &[
        "je", "tu", "vous", "est", "le", "la", "les", "des", "du", "un", "une", "pour", "comment",
        "quel", "quelle", "quels", "pourquoi", "mon", "ma", "mes", "et", "avec", "sur", "pas",
        "combien", "où", "puis", "qui", "que", "quoi", "bonjour", "merci", "votre", "ton",
    ];
    const ENGLISH: &[&str] = &[
        "the", "is", "are", "how", "what", "my", "i", "you", "do", "can", "for", "to", "and",
        "with", "on", "not", "where", "why", "which", "who", "hello", "thanks", "your", "does",
    ];
    let (mut fr, mut en) = (0, 0);
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
    {
        fr += usize::from(FRENCH.contains(&word.as_str()));
        en += usize::from(ENGLISH.contains(&word.as_str()));
    }
    if fr > en { Lang::French } else { Lang::English }
}

/// A short opener matching the tenant's tone, or nothing for sober tones.
fn opener(persona: &Persona, lang: Lang) -> &'static str {
    match (persona.tone.as_str(), lang, persona.emojis) {
        ("FRIENDLY" | "PLAYFUL", Lang::English, true) => "Happy to help! 😊 ",
        ("FRIENDLY" | "PLAYFUL", Lang::English, false) => "Happy to help! ",
        ("FRIENDLY" | "PLAYFUL", Lang::French, true) => "Avec plaisir ! 😊 ",
        ("FRIENDLY" | "PLAYFUL", Lang::French, false) => "Avec plaisir ! ",
        _ => "",
    }
}

/// The retrieval answer: the best passage, then the others under their titles.
pub fn compose(
    persona: &Persona,
    lang: Lang,
    sources: Vec<Retrieved>,
    segment: &SegmentInfo,
) -> Answer {
    let Some(first) = sources.first() else {
        return fallback(persona, lang, segment);
    };
    let mut text = format!("{}{}", opener(persona, lang), first.passage);
    for more in &sources[1..] {
        let lead = match lang {
            Lang::English => "See also",
            Lang::French => "Voir aussi",
        };
        text.push_str(&format!("\n\n{lead} « {} » : {}", more.title, more.passage));
    }
    Answer { text, sources }
}

/// The polite "I don't know" that invents nothing and offers what the bot can help with.
pub fn fallback(persona: &Persona, lang: Lang, segment: &SegmentInfo) -> Answer {
    let name = &persona.bot_name;
    let mut text = match (lang, persona.tutoiement) {
        (Lang::English, _) => format!(
            "I'm sorry, I'm {name} and I don't have information about that in my knowledge base."
        ),
        (Lang::French, true) => format!(
            "Désolé, je suis {name} et je n'ai pas d'information à ce sujet dans ma base de connaissances. Peux-tu reformuler ?"
        ),
        (Lang::French, false) => format!(
            "Désolé, je suis {name} et je n'ai pas d'information à ce sujet dans ma base de connaissances. Pouvez-vous reformuler ?"
        ),
    };
    if !segment.starters.is_empty() {
        text.push_str(match lang {
            Lang::English => " Here is what I can help with:",
            Lang::French => " Voici ce sur quoi je peux aider :",
        });
        for starter in &segment.starters {
            text.push_str("\n- ");
            text.push_str(starter);
        }
    } else if !segment.welcome_message.is_empty() {
        text.push_str("\n\n");
        text.push_str(&segment.welcome_message);
    }
    Answer {
        text,
        sources: Vec::new(),
    }
}

/// The messages sent to an OpenAI-compatible endpoint: persona and rules, the retrieved
/// entries, the conversation so far, then the visitor's message.
pub fn llm_messages(
    persona: &Persona,
    segment: &SegmentInfo,
    sources: &[Retrieved],
    history: &[(String, String)],
    question: &str,
) -> Vec<ChatMessage> {
    let mut system = format!("You are {}", persona.bot_name);
    if !persona.bot_title.is_empty() {
        system.push_str(&format!(", {}", persona.bot_title));
    }
    system.push_str(". ");
    if !persona.bot_lore.is_empty() {
        system.push_str(&persona.bot_lore);
        system.push(' ');
    }
    system.push_str(&format!(
        "Tone: {}. Answer in the visitor's language{}{}. Answer only from the knowledge base \
         entries below; if they do not contain the answer, say you don't know and never invent \
         facts.",
        persona.tone.to_lowercase(),
        if persona.tutoiement {
            ", addressing French speakers with 'tu'"
        } else {
            ""
        },
        if persona.emojis {
            ""
        } else {
            ", without emojis"
        },
    ));
    if !segment.system_prompt.is_empty() {
        system.push_str("\n\n");
        system.push_str(&segment.system_prompt);
    }
    system.push_str("\n\nKnowledge base entries:");
    if sources.is_empty() {
        system.push_str("\n(none relevant)");
    }
    for (i, source) in sources.iter().enumerate() {
        system.push_str(&format!(
            "\n[{}] {}\n{}",
            i + 1,
            source.title,
            source.passage
        ));
    }
    let mut messages = vec![ChatMessage {
        role: "system".into(),
        content: system,
    }];
    for (role, content) in history {
        messages.push(ChatMessage {
            role: role.clone(),
            content: content.clone(),
        });
    }
    messages.push(ChatMessage {
        role: "user".into(),
        content: question.to_string(),
    });
    messages
}

/// Splits a leading `[AGENT:model]` marker off a message: `(model, rest)`.
pub fn split_agent_prefix(message: &str) -> (Option<&str>, &str) {
    let trimmed = message.trim_start();
    if let Some(rest) = trimmed.strip_prefix("[AGENT:")
        && let Some(end) = rest.find(']')
    {
        let model = rest[..end].trim();
        if !model.is_empty() && model.chars().count() <= 100 {
            return (Some(model), rest[end + 1..].trim_start());
        }
    }
    (None, message)
}

/// Cuts a finished answer into stream chunks of a few words, on character boundaries.
pub fn chunks(text: &str, target_chars: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for piece in text.split_inclusive(char::is_whitespace) {
        current.push_str(piece);
        if current.chars().count() >= target_chars {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, title: &str, content: &str) -> CorpusEntry {
        CorpusEntry {
            id: id.into(),
            title: title.into(),
            content: content.into(),
            segment: None,
            priority: 5,
            tags: vec![],
            created_at: Default::default(),
            updated_at: Default::default(),
            revision: 0,
        }
    }

    fn persona() -> Persona {
        Persona {
            bot_name: "Max".into(),
            bot_title: "Acme assistant".into(),
            bot_lore: String::new(),
            tone: "NEUTRAL".into(),
            tutoiement: false,
            emojis: false,
        }
    }

    #[test]
    fn relevant_entries_give_their_passage_not_the_whole_entry() {
        let filler = "Our company was founded long ago and sells many products. ".repeat(200);
        let content = format!("{filler}Refunds are paid within 30 days of the return. {filler}");
        let q = search::analyze_query("How long do refunds take?");
        let kept = select_relevant(&q, vec![(entry("a", "Policies", &content), 3.0)], 300);
        assert_eq!(kept.len(), 1);
        assert!(
            kept[0].passage.contains("Refunds are paid within 30 days"),
            "{}",
            kept[0].passage
        );
        assert!(kept[0].passage.chars().count() <= 300);
        let answer = compose(&persona(), Lang::English, kept, &SegmentInfo::default());
        assert!(answer.text.contains("Refunds are paid within 30 days"));
        assert_eq!(answer.sources.len(), 1);
    }

    #[test]
    fn weak_matches_fall_back_without_inventing() {
        let q = search::analyze_query("What is the weather forecast for Paris tomorrow morning?");
        let hits = vec![(
            entry("a", "Offices", "Our office is open in the morning."),
            1.0,
        )];
        let kept = select_relevant(&q, hits, 500);
        assert!(
            kept.is_empty(),
            "one side word of five is not relevant: {kept:?}"
        );
        let segment = SegmentInfo {
            starters: vec!["Where is my order?".into()],
            ..Default::default()
        };
        let answer = compose(&persona(), Lang::English, kept, &segment);
        assert!(answer.sources.is_empty());
        assert!(answer.text.contains("Max") && answer.text.contains("don't have information"));
        assert!(answer.text.contains("- Where is my order?"));
    }

    #[test]
    fn secondary_entries_only_when_close_to_the_best() {
        let q = search::analyze_query("refund");
        let hits = vec![
            (entry("a", "Refunds", "Refund in 30 days."), 10.0),
            (entry("b", "Returns", "A refund needs the receipt."), 7.0),
            (entry("c", "Misc", "Refund questions go to billing."), 2.0),
        ];
        let kept = select_relevant(&q, hits, 600);
        let ids: Vec<&str> = kept.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["a", "b"]);
    }

    #[test]
    fn french_fallback_respects_tutoiement() {
        assert_eq!(
            detect_lang("Comment puis-je être remboursé ?"),
            Lang::French
        );
        assert_eq!(detect_lang("How do I get a refund?"), Lang::English);
        let mut p = persona();
        p.tutoiement = true;
        let text = fallback(&p, Lang::French, &SegmentInfo::default()).text;
        assert!(text.contains("Peux-tu"), "{text}");
        p.tutoiement = false;
        assert!(
            fallback(&p, Lang::French, &SegmentInfo::default())
                .text
                .contains("Pouvez-vous")
        );
    }

    #[test]
    fn agent_prefix_is_split_off() {
        assert_eq!(
            split_agent_prefix("[AGENT:gpt-4o] Hello"),
            (Some("gpt-4o"), "Hello")
        );
        assert_eq!(
            split_agent_prefix("Hello [AGENT:x]"),
            (None, "Hello [AGENT:x]")
        );
        assert_eq!(split_agent_prefix("[AGENT:] Hi"), (None, "[AGENT:] Hi"));
    }

    #[test]
    fn chunks_rebuild_the_text() {
        let text = "Héllo wörld, this is a streamed answer with ünicode.";
        let parts = chunks(text, 10);
        assert!(parts.len() > 2);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn llm_prompt_carries_persona_entries_and_history() {
        let sources = vec![Retrieved {
            id: "a".into(),
            title: "Refunds".into(),
            passage: "30 days.".into(),
            score: 1.0,
        }];
        let segment = SegmentInfo {
            system_prompt: "Be brief.".into(),
            ..Default::default()
        };
        let history = vec![
            ("user".to_string(), "hi".to_string()),
            ("assistant".to_string(), "hello".to_string()),
        ];
        let messages = llm_messages(&persona(), &segment, &sources, &history, "refund?");
        assert_eq!(messages.len(), 4);
        assert!(messages[0].content.contains("You are Max"));
        assert!(messages[0].content.contains("Be brief."));
        assert!(messages[0].content.contains("[1] Refunds\n30 days."));
        assert_eq!(messages[3].content, "refund?");
    }
}
