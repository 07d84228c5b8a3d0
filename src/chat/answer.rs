//! Answer composition. The retrieval answer is built only from passages of the tenant's own
//! corpus entries (the relevant sentences, never a whole 50,000-character entry) wrapped in a
//! few words of the bot's persona; when nothing is relevant enough it says so and offers the
//! segment's conversation starters instead of inventing anything.

use std::collections::HashSet;

use super::relevance::{self, Candidate, Sensitivity};
use super::smalltalk;
use crate::chat::llm::ChatMessage;
use crate::domain::{ContentPolicy, CorpusEntry};
use crate::search::{self, Hit, Query};

/// The tenant settings that shape how the bot speaks.
#[derive(Debug, Clone)]
pub struct Persona {
    pub bot_name: String,
    pub bot_title: String,
    pub bot_lore: String,
    pub tone: String,
    pub tutoiement: bool,
    pub emojis: bool,
    pub content_policy: ContentPolicy,
    /// Set when the widget asks visitors to confirm this age first.
    pub age_gate: Option<u8>,
    pub content_warning: Option<String>,
}

/// The content policy as an instruction to the LLM.
fn content_rule(policy: ContentPolicy) -> &'static str {
    match policy {
        ContentPolicy::SfwStrict => {
            "Content policy: strictly safe for work and suitable for all ages; decline any \
             adult, violent or explicit topic."
        }
        ContentPolicy::Sfw => "Content policy: safe for work; decline explicit content.",
        ContentPolicy::Moderate => {
            "Content policy: mature themes may be discussed factually, never explicitly."
        }
        ContentPolicy::Unfiltered => {
            "Content policy: no topic restrictions beyond the law; stay within the knowledge base."
        }
    }
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
    /// The entries the text was built from; empty for the fallback and small talk.
    pub sources: Vec<Retrieved>,
    pub kind: AnswerKind,
}

/// What kind of reply an [`Answer`] is: only `FromCorpus` has anything for an LLM to work
/// from; the others are complete as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// Passages of relevant entries (`sources` not empty).
    FromCorpus,
    /// Nothing relevant: the polite "I don't know" with the starters.
    Fallback,
    /// A greeting, thanks or goodbye answered without the corpus.
    SmallTalk,
}

impl Answer {
    /// Whether anything relevant was found (an LLM may be called only then).
    pub fn is_relevant(&self) -> bool {
        self.kind == AnswerKind::FromCorpus
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    English,
    French,
}

pub use super::relevance::MAX_SOURCES;
pub use super::smalltalk::SmallTalk;

/// Keeps the ranked hits (best first, with their scores) that really answer the query and
/// cuts their passages; the passage budget is shared by the entries kept. Without the
/// index's idf weights every content word of the query weighs the same here; the chat path
/// uses [`relevance::retrieve`](super::relevance::retrieve), which has them.
pub fn select_relevant(
    query: &Query,
    hits: Vec<(CorpusEntry, f32)>,
    max_chars: usize,
) -> Vec<Retrieved> {
    let weights: Vec<f32> = query
        .terms()
        .iter()
        .map(|t| if t.is_stopword() { 0.0 } else { 1.0 })
        .collect();
    let candidates = hits
        .into_iter()
        .map(|(entry, score)| {
            let doc = search::analyze_doc(&entry.title, &entry.content, &entry.tags);
            let terms: HashSet<&str> = doc.terms().map(|(t, _, _)| t).collect();
            let matched = query
                .terms()
                .iter()
                .enumerate()
                .take(32)
                .filter(|(_, t)| t.variants().iter().any(|v| terms.contains(v.as_str())))
                .fold(0u32, |mask, (i, _)| mask | (1 << i));
            let total: f32 = weights.iter().sum();
            let covered: f32 = (0..weights.len().min(32))
                .filter(|i| matched & (1 << i) != 0)
                .map(|i| weights[i])
                .sum();
            let hit = Hit {
                id: entry.id.clone(),
                score,
                coverage: if total > 0.0 { covered / total } else { 0.0 },
                matched,
                similarity: None,
                corrected_similarity: None,
            };
            Candidate { entry, hit }
        })
        .collect();
    // No index to say which words the corpus lacks; without similarities, meaning alone
    // never decides here anyway.
    relevance::select(
        query,
        &weights,
        relevance::Lacking::default(),
        candidates,
        max_chars,
        Sensitivity::default(),
    )
}

/// Guesses whether a visitor writes French or English (the search module's detector, so the
/// answer's language and the ranking's preference never disagree).
pub fn detect_lang(text: &str) -> Lang {
    match search::visitor_lang(text) {
        search::Lang::French => Lang::French,
        _ => Lang::English,
    }
}

/// Whether the message is small talk (greeting, thanks, goodbye) to answer with
/// [`small_talk_reply`] instead of searching the corpus. `lang` is accepted so the caller
/// need not care which languages the formulas are known in (English and French both are).
pub fn small_talk(message: &str, _lang: Lang) -> Option<SmallTalk> {
    smalltalk::detect(message)
}

/// Whether a character is an emoji (pictographs, symbols, flags, joiners, the emoji
/// variation selector): removed from everything the bot says when emojis are off.
fn is_emoji(c: char) -> bool {
    matches!(u32::from(c),
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2300..=0x23FF
        | 0xFE0F | 0x200D | 0x20E3 | 0xE0020..=0xE007F)
}

/// `text` without emojis (and without the space an emoji prefix leaves) unless allowed.
fn respect_emojis(persona: &Persona, text: &str) -> String {
    if persona.emojis {
        return text.to_string();
    }
    let stripped: String = text.chars().filter(|&c| !is_emoji(c)).collect();
    let mut out = String::with_capacity(stripped.len());
    for (i, line) in stripped.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(line.trim_start_matches(' ').trim_end());
    }
    out.trim().to_string()
}

fn push_starters(text: &mut String, persona: &Persona, lang: Lang, segment: &SegmentInfo) {
    let starters: Vec<String> = segment
        .starters
        .iter()
        .map(|s| respect_emojis(persona, s))
        .filter(|s| !s.is_empty())
        .collect();
    if starters.is_empty() {
        return;
    }
    text.push_str(match (lang, persona.tutoiement) {
        (Lang::English, _) => " Here is what I can help with:",
        (Lang::French, true) => " Voici ce sur quoi je peux t'aider :",
        (Lang::French, false) => " Voici ce sur quoi je peux vous aider :",
    });
    for starter in starters {
        text.push_str("\n- ");
        text.push_str(&starter);
    }
}

/// The reply to small talk, in the persona's voice and the visitor's language: a greeting
/// gets the segment's welcome message (or a short hello) and the starters.
pub fn small_talk_reply(
    kind: SmallTalk,
    persona: &Persona,
    lang: Lang,
    segment: &SegmentInfo,
) -> Answer {
    let tu = persona.tutoiement;
    let mut text = match kind {
        SmallTalk::Greeting => {
            let welcome = respect_emojis(persona, &segment.welcome_message);
            if !welcome.is_empty() {
                welcome
            } else {
                match (lang, tu) {
                    (Lang::English, _) => "Hello! How can I help you today?".to_string(),
                    (Lang::French, true) => "Bonjour ! Comment puis-je t'aider ?".to_string(),
                    (Lang::French, false) => "Bonjour ! Comment puis-je vous aider ?".to_string(),
                }
            }
        }
        SmallTalk::Thanks => match (lang, tu) {
            (Lang::English, _) => "You're welcome! Anything else I can help with?",
            (Lang::French, true) => "Avec plaisir ! Je peux t'aider pour autre chose ?",
            (Lang::French, false) => "Avec plaisir ! Puis-je vous aider pour autre chose ?",
        }
        .to_string(),
        SmallTalk::Goodbye => match lang {
            Lang::English => "Goodbye, and have a nice day!",
            Lang::French => "Au revoir, et bonne journée !",
        }
        .to_string(),
    };
    if kind == SmallTalk::Greeting {
        push_starters(&mut text, persona, lang, segment);
    }
    Answer {
        text,
        sources: Vec::new(),
        kind: AnswerKind::SmallTalk,
    }
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
        // Each language's own quotation marks and spacing.
        text.push_str(&match lang {
            Lang::English => format!("\n\nSee also \"{}\": {}", more.title, more.passage),
            Lang::French => format!("\n\nVoir aussi « {} » : {}", more.title, more.passage),
        });
    }
    Answer {
        text,
        sources,
        kind: AnswerKind::FromCorpus,
    }
}

/// The polite "I don't know" that invents nothing and offers what the bot can help with. The
/// persona's name is not forced into it ("I'm Assistant and I don't..." reads like a
/// machine); the welcome message is for greetings, not appended here.
pub fn fallback(persona: &Persona, lang: Lang, segment: &SegmentInfo) -> Answer {
    let mut text = match (lang, persona.tutoiement) {
        (Lang::English, _) => "Sorry, I don't have information about that.".to_string(),
        (Lang::French, true) => {
            "Désolé, je n'ai pas d'information à ce sujet. Peux-tu reformuler ?".to_string()
        }
        (Lang::French, false) => {
            "Désolé, je n'ai pas d'information à ce sujet. Pouvez-vous reformuler ?".to_string()
        }
    };
    push_starters(&mut text, persona, lang, segment);
    Answer {
        text,
        sources: Vec::new(),
        kind: AnswerKind::Fallback,
    }
}

/// The messages sent to an OpenAI-compatible endpoint: persona and rules, the retrieved
/// entries, the conversation so far, then the visitor's message.
pub fn llm_messages(
    persona: &Persona,
    segment: &SegmentInfo,
    sources: &[Retrieved],
    visitor_facts: &[(String, String)],
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
    system.push(' ');
    system.push_str(content_rule(persona.content_policy));
    if let Some(age) = persona.age_gate {
        system.push_str(&format!(
            " Visitors have confirmed they are at least {age} years old."
        ));
    }
    if let Some(warning) = &persona.content_warning {
        system.push_str(&format!(
            " Visitors were shown this content warning: {warning}"
        ));
    }
    if !visitor_facts.is_empty() {
        system.push_str("\n\nWhat you know about this visitor:");
        for (key, value) in visitor_facts {
            system.push_str(&format!("\n- {key}: {value}"));
        }
    }
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

/// Longest agent model name kept; longer ones are cut, as the hosted API documents.
pub const MAX_AGENT_MODEL_CHARS: usize = 100;

/// The model an agent names, by `X-Agent-Model` or an `[AGENT:...]` marker alike: trimmed,
/// cut to 100 characters, and "unknown" when empty (it still declared itself an agent).
pub fn agent_model_name(raw: &str) -> String {
    let name: String = raw.trim().chars().take(MAX_AGENT_MODEL_CHARS).collect();
    match name.trim_end() {
        "" => "unknown".to_string(),
        name => name.to_string(),
    }
}

/// Splits a leading `[AGENT:model]` marker off a message: `(model, rest)`.
pub fn split_agent_prefix(message: &str) -> (Option<String>, &str) {
    let trimmed = message.trim_start();
    if let Some(rest) = trimmed.strip_prefix("[AGENT:")
        && let Some(end) = rest.find(']')
    {
        return (
            Some(agent_model_name(&rest[..end])),
            rest[end + 1..].trim_start(),
        );
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
            summary: None,
            is_active: true,
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
            content_policy: ContentPolicy::Sfw,
            age_gate: None,
            content_warning: None,
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
        assert!(
            answer
                .text
                .starts_with("Sorry, I don't have information about that."),
            "{}",
            answer.text
        );
        assert!(!answer.text.contains("I'm Max"), "{}", answer.text);
        assert!(answer.text.contains("- Where is my order?"));
        assert_eq!(answer.kind, AnswerKind::Fallback);
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
            (Some("gpt-4o".to_string()), "Hello")
        );
        assert_eq!(
            split_agent_prefix("Hello [AGENT:x]"),
            (None, "Hello [AGENT:x]")
        );
        assert_eq!(
            split_agent_prefix("[AGENT:] Hi"),
            (Some("unknown".to_string()), "Hi")
        );
        let long = format!("[AGENT:{}] Hi", "m".repeat(150));
        assert_eq!(split_agent_prefix(&long), (Some("m".repeat(100)), "Hi"));
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
        let messages = llm_messages(&persona(), &segment, &sources, &[], &history, "refund?");
        assert_eq!(messages.len(), 4);
        assert!(messages[0].content.contains("You are Max"));
        assert!(messages[0].content.contains("Be brief."));
        assert!(messages[0].content.contains("[1] Refunds\n30 days."));
        assert_eq!(messages[3].content, "refund?");
    }

    #[test]
    fn llm_prompt_carries_the_content_policy_and_age_gate() {
        let strict = Persona {
            content_policy: ContentPolicy::SfwStrict,
            ..persona()
        };
        let system = &llm_messages(&strict, &SegmentInfo::default(), &[], &[], &[], "q")[0].content;
        assert!(system.contains("strictly safe for work"), "{system}");
        assert!(!system.contains("years old"), "{system}");
        let gated = Persona {
            content_policy: ContentPolicy::Moderate,
            age_gate: Some(21),
            content_warning: Some("Talks about wine.".into()),
            ..persona()
        };
        let facts = [("plan".to_string(), "pro".to_string())];
        let system =
            &llm_messages(&gated, &SegmentInfo::default(), &[], &facts, &[], "q")[0].content;
        assert!(
            system.contains("What you know about this visitor:\n- plan: pro"),
            "{system}"
        );
        assert!(
            system.contains("mature themes may be discussed"),
            "{system}"
        );
        assert!(system.contains("at least 21 years old"), "{system}");
        assert!(system.contains("Talks about wine."), "{system}");
    }

    fn segment_with_starters() -> SegmentInfo {
        SegmentInfo {
            system_prompt: String::new(),
            welcome_message: "Welcome to Acme! 👋".into(),
            starters: vec!["📦 Where is my order?".into(), "💶 Refunds".into()],
        }
    }

    #[test]
    fn hello_gets_the_welcome_and_starters_not_the_fallback() {
        let p = persona();
        let lang = detect_lang("hello");
        let kind = small_talk("hello", lang);
        assert_eq!(kind, Some(SmallTalk::Greeting));
        let Some(kind) = kind else { return };
        let answer = small_talk_reply(kind, &p, lang, &segment_with_starters());
        assert!(
            answer.text.starts_with("Welcome to Acme!"),
            "{}",
            answer.text
        );
        assert!(
            answer.text.contains("- Where is my order?"),
            "{}",
            answer.text
        );
        assert!(!answer.text.contains("don't have information"));
        assert_eq!(answer.kind, AnswerKind::SmallTalk);
        assert!(answer.sources.is_empty() && !answer.is_relevant());
        // Without a welcome message: a short hello in the visitor's language.
        let plain = small_talk_reply(
            SmallTalk::Greeting,
            &p,
            Lang::French,
            &SegmentInfo::default(),
        );
        assert_eq!(plain.text, "Bonjour ! Comment puis-je vous aider ?");
        let thanks = small_talk_reply(
            SmallTalk::Thanks,
            &p,
            Lang::English,
            &SegmentInfo::default(),
        );
        assert!(thanks.text.starts_with("You're welcome"), "{}", thanks.text);
    }

    #[test]
    fn fallback_wording_uses_no_name_and_no_welcome() {
        let mut p = persona();
        p.bot_name = "Assistant".into();
        let answer = fallback(&p, Lang::English, &segment_with_starters());
        assert_eq!(
            answer.text,
            "Sorry, I don't have information about that. Here is what I can help with:\n\
             - Where is my order?\n- Refunds"
        );
        assert!(!answer.text.contains("I'm Assistant"));
        assert!(
            !answer.text.contains("Welcome to Acme"),
            "welcome is for greetings"
        );
        let fr = fallback(&p, Lang::French, &SegmentInfo::default());
        assert_eq!(
            fr.text,
            "Désolé, je n'ai pas d'information à ce sujet. Pouvez-vous reformuler ?"
        );
    }

    #[test]
    fn emojis_only_when_allowed() {
        let mut p = persona();
        p.tone = "FRIENDLY".into();
        p.emojis = false;
        let segment = segment_with_starters();
        let texts = [
            fallback(&p, Lang::English, &segment).text,
            small_talk_reply(SmallTalk::Greeting, &p, Lang::English, &segment).text,
            compose(
                &p,
                Lang::English,
                vec![retrieved("a", "Refunds", "30 days.")],
                &segment,
            )
            .text,
        ];
        for text in &texts {
            assert!(!text.chars().any(is_emoji), "{text}");
        }
        assert!(texts[0].contains("\n- Where is my order?"), "{}", texts[0]);
        p.emojis = true;
        let with = small_talk_reply(SmallTalk::Greeting, &p, Lang::English, &segment).text;
        assert!(
            with.contains("📦 Where is my order?") && with.contains('👋'),
            "{with}"
        );
    }

    fn retrieved(id: &str, title: &str, passage: &str) -> Retrieved {
        Retrieved {
            id: id.into(),
            title: title.into(),
            passage: passage.into(),
            score: 1.0,
        }
    }

    #[test]
    fn see_also_uses_each_languages_typography() {
        let sources = vec![
            retrieved("a", "Refunds", "Refunds take 5 days."),
            retrieved("b", "Returns", "Returns are free."),
        ];
        let en = compose(
            &persona(),
            Lang::English,
            sources.clone(),
            &SegmentInfo::default(),
        );
        assert!(
            en.text.contains("See also \"Returns\": Returns are free."),
            "{}",
            en.text
        );
        assert!(
            !en.text.contains('«') && !en.text.contains('»'),
            "{}",
            en.text
        );
        let fr = compose(&persona(), Lang::French, sources, &SegmentInfo::default());
        assert!(fr.text.contains("Voir aussi « Returns » : "), "{}", fr.text);
        assert!(en.is_relevant());
    }

    #[test]
    fn used_skates_question_gets_sentences_not_the_manual() {
        let manual = [
            "Skate care manual. Dry your skates after every session. Store them in a cool place.",
            "Sharpening. Blades need sharpening every 20 hours of use. Our shop sharpens them.",
            "Returns. Unused skates can be returned within 30 days. Used skates cannot be returned, \
             but we repair them.",
            "Sizes. Skates run small. Order one size up if you are between sizes.",
            "Warranty. Boots are covered for one year against manufacturing defects.",
        ]
        .join("\n\n");
        let q = search::analyze_query("Can I return used skates?");
        let kept = select_relevant(&q, vec![(entry("m", "Skates manual", &manual), 3.0)], 1200);
        assert_eq!(kept.len(), 1, "{kept:?}");
        let passage = &kept[0].passage;
        assert!(
            passage.contains("Used skates cannot be returned"),
            "{passage}"
        );
        assert!(passage.chars().count() < 250, "{passage}");
        assert!(!passage.contains("Warranty"), "{passage}");
    }

    #[test]
    fn one_language_detector() {
        assert_eq!(detect_lang("purger les paquets supprimés"), Lang::French);
        assert_eq!(detect_lang("sudo"), Lang::English);
        assert_eq!(detect_lang("What is the refund policy?"), Lang::English);
        assert_eq!(
            search::visitor_lang("Comment obtenir un remboursement ?"),
            search::Lang::French
        );
    }
}
