//! Does the visitor ask to be contacted, to leave their details or to talk to a person? The
//! offline rules of the tools (`agent::offline`) act on it, so the list is deliberately small
//! and literal: a visitor can predict it, and a tenant can read it in the README.

/// Phrasings, lowercase, apostrophes straight; matched as substrings of the lowercased message
/// with accents kept and also with them removed, so "etre rappele" counts as "être rappelé".
const PATTERNS: &[&str] = &[
    // English
    "contact me",
    "call me back",
    "give me a call",
    "get back to me",
    "reach me",
    "email me",
    "leave my details",
    "leave my contact",
    "leave my number",
    "leave my email",
    "talk to a human",
    "talk to a person",
    "talk to someone",
    "talk to a real person",
    "speak to a human",
    "speak to a person",
    "speak to someone",
    "speak with someone",
    "speak with a human",
    "human agent",
    // French
    "parler à un humain",
    "parler à une personne",
    "parler à quelqu'un",
    "parler avec quelqu'un",
    "parler à un conseiller",
    "parler à une vraie personne",
    "être rappelé",
    "me rappeler",
    "rappelez-moi",
    "me contacter",
    "contactez-moi",
    "me recontacter",
    "laisser mes coordonnées",
];

fn unaccented(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            '’' | '‘' => '\'',
            other => other,
        })
        .collect()
}

/// True when `message` asks for a person or to be contacted.
pub fn asks_for_contact(message: &str) -> bool {
    let lowered = unaccented(&message.to_lowercase());
    let words = lowered.split_whitespace().collect::<Vec<_>>().join(" ");
    PATTERNS.iter().any(|p| words.contains(&unaccented(p)))
}

#[cfg(test)]
mod tests {
    use super::asks_for_contact;

    #[test]
    fn english_and_french_requests_are_recognised() {
        for message in [
            "Please contact me tomorrow",
            "Can someone call me back?",
            "I want to TALK TO A HUMAN",
            "could I speak to  someone",
            "Je voudrais parler à un humain",
            "je veux etre rappele",
            "Pouvez-vous me contacter ?",
            "J’aimerais parler à quelqu’un",
        ] {
            assert!(asks_for_contact(message), "{message}");
        }
        for message in [
            "What are your opening hours?",
            "Quels sont vos horaires ?",
            "How do I contact support by mail?",
        ] {
            assert!(!asks_for_contact(message), "{message}");
        }
    }
}
