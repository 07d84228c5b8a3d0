//! Greetings, thanks and goodbyes: messages that ask nothing of the corpus. Searching them
//! would only find entries that happen to contain "hello"; they get a short reply instead.

/// The kinds of small talk the bot answers itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallTalk {
    Greeting,
    Thanks,
    Goodbye,
}

const GREETINGS: &[&str] = &[
    "hello",
    "hi",
    "hey",
    "hiya",
    "howdy",
    "greetings",
    "morning",
    "afternoon",
    "evening",
    "bonjour",
    "salut",
    "coucou",
    "bonsoir",
    "hola",
    "yo",
    "allo",
];
const THANKS: &[&str] = &[
    "thanks", "thank", "thx", "ty", "merci", "cheers", "remercie",
];
const GOODBYES: &[&str] = &[
    "bye", "goodbye", "ciao", "revoir", "bientot", "later", "journee", "soiree", "night",
];
/// Words that may surround the formula without making it a question.
const FILLERS: &[&str] = &[
    "good", "you", "very", "much", "so", "a", "lot", "there", "all", "everyone", "again", "ok",
    "okay", "great", "nice", "the", "bot", "beaucoup", "bien", "tout", "le", "monde", "bonne",
    "au", "a", "et", "and", "see", "have", "day", "oh", "well", "vous", "toi", "tres", "je",
    "vous", "te", "for", "your", "help", "aide", "pour", "l", "de", "votre", "ton", "ta",
];
/// Longer messages carry a question even when they open with "hello".
const MAX_WORDS: usize = 8;

fn fold_word(word: &str) -> String {
    word.to_lowercase()
        .chars()
        .map(|c| match c {
            'à' | 'â' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// Recognises a message made only of greeting, thanking or leave-taking formulas (plus
/// fillers such as "so much", "everyone"). A goodbye wins over thanks, thanks over a greeting
/// ("thanks, bye!" is a goodbye).
pub fn detect(message: &str) -> Option<SmallTalk> {
    let words: Vec<String> = message
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold_word)
        .collect();
    if words.is_empty() || words.len() > MAX_WORDS {
        return None;
    }
    let (mut greeting, mut thanks, mut goodbye) = (false, false, false);
    for word in &words {
        let word = word.as_str();
        if GREETINGS.contains(&word) {
            greeting = true;
        } else if THANKS.contains(&word) {
            thanks = true;
        } else if GOODBYES.contains(&word) {
            goodbye = true;
        } else if !FILLERS.contains(&word) {
            return None;
        }
    }
    if goodbye {
        Some(SmallTalk::Goodbye)
    } else if thanks {
        Some(SmallTalk::Thanks)
    } else if greeting {
        Some(SmallTalk::Greeting)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_formulas_in_both_languages() {
        assert_eq!(detect("hello"), Some(SmallTalk::Greeting));
        assert_eq!(detect("Hi there!"), Some(SmallTalk::Greeting));
        assert_eq!(detect("Bonjour"), Some(SmallTalk::Greeting));
        assert_eq!(detect("good morning"), Some(SmallTalk::Greeting));
        assert_eq!(detect("Thank you so much"), Some(SmallTalk::Thanks));
        assert_eq!(detect("merci beaucoup !"), Some(SmallTalk::Thanks));
        assert_eq!(detect("thanks, bye"), Some(SmallTalk::Goodbye));
        assert_eq!(detect("Au revoir"), Some(SmallTalk::Goodbye));
        assert_eq!(detect("bonne journée"), Some(SmallTalk::Goodbye));
    }

    #[test]
    fn questions_are_not_small_talk() {
        assert_eq!(detect("hello, how do I get a refund?"), None);
        assert_eq!(detect("What are your business hours?"), None);
        assert_eq!(detect("bonjour, comment purger un paquet"), None);
        assert_eq!(detect("good"), None);
        assert_eq!(detect(""), None);
    }
}
