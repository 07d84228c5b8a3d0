//! Hand-written stopword lists.
//!
//! They serve two purposes: dropping words that carry no topical signal, and
//! guessing whether a text is English or French (see `lang::detect_lang`).
//! Entries are lowercase and sorted (a unit test enforces it). Words that are frequent content
//! words in the *other* language (e.g. French "car" = "because", English
//! "car") are deliberately left out, because a stopword of one language is
//! only dropped from documents confidently detected as that language.

use std::sync::LazyLock;

use super::FastMap;

pub(crate) static ENGLISH: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "could",
    "couldn",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "get",
    "got",
    "had",
    "hadn",
    "has",
    "hasn",
    "have",
    "haven",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "ll",
    "me",
    "more",
    "most",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "please",
    "re",
    "same",
    "she",
    "should",
    "shouldn",
    "so",
    "some",
    "such",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "ve",
    "very",
    "was",
    "wasn",
    "we",
    "were",
    "weren",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "won",
    "would",
    "wouldn",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

pub(crate) static FRENCH: &[&str] = &[
    "ai", "alors", "as", "au", "aucun", "aucune", "aussi", "autre", "autres", "aux", "avaient",
    "avais", "avait", "avant", "avec", "avez", "avoir", "avons", "bonjour", "ce", "ceci", "cela",
    "celle", "celles", "celui", "ces", "cet", "cette", "ceux", "chaque", "chez", "ci", "comme",
    "comment", "dans", "de", "deja", "des", "donc", "dont", "du", "déjà", "elle", "elles", "en",
    "encore", "entre", "es", "est", "et", "etre", "eu", "eux", "faire", "fais", "fait", "ici",
    "il", "ils", "je", "jusqu", "la", "le", "les", "leur", "leurs", "lorsqu", "lui", "là", "ma",
    "mais", "me", "merci", "mes", "moi", "moins", "mon", "même", "ne", "ni", "non", "nos", "notre",
    "nous", "on", "ont", "ou", "oui", "où", "par", "parce", "pas", "peut", "peuvent", "peux",
    "plus", "pour", "pourquoi", "puis", "qu", "quand", "que", "quel", "quelle", "quelles", "quels",
    "qui", "quoi", "sa", "sans", "se", "sera", "serait", "ses", "si", "soit", "sommes", "son",
    "sont", "sous", "stp", "suis", "sur", "svp", "ta", "te", "tes", "toi", "ton", "tous", "tout",
    "toute", "toutes", "tres", "très", "tu", "un", "une", "vers", "vos", "votre", "vous", "ça",
    "étaient", "étais", "était", "été", "êtes", "être",
];

/// Checked by a test against both lists.
const LONGEST_STOPWORD_BYTES: usize = 12;

pub(crate) const IN_ENGLISH: u8 = 1;
pub(crate) const IN_FRENCH: u8 = 2;

/// One hash lookup answers both languages; every token of every analysed
/// text goes through here, and two binary searches were a visible cost.
static LISTS: LazyLock<FastMap<&'static str, u8>> = LazyLock::new(|| {
    let mut map = FastMap::default();
    for word in ENGLISH {
        *map.entry(*word).or_default() |= IN_ENGLISH;
    }
    for word in FRENCH {
        *map.entry(*word).or_default() |= IN_FRENCH;
    }
    map
});

/// `IN_ENGLISH | IN_FRENCH` bits of the lists containing `word`.
pub(crate) fn lists(word: &str) -> u8 {
    // Most tokens are longer than any stopword: no hashing for them.
    if word.len() > LONGEST_STOPWORD_BYTES {
        return 0;
    }
    LISTS.get(word).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_english(word: &str) -> bool {
        lists(word) & IN_ENGLISH != 0
    }

    fn is_french(word: &str) -> bool {
        lists(word) & IN_FRENCH != 0
    }

    #[test]
    fn lists_are_sorted_unique_lowercase() {
        for list in [ENGLISH, FRENCH] {
            assert!(
                list.windows(2).all(|w| w[0] < w[1]),
                "unsorted or duplicate entry"
            );
            assert!(list.iter().all(|w| w.chars().count() >= 2));
            assert!(list.iter().all(|w| w.to_lowercase() == *w));
            assert!((100..=160).contains(&list.len()));
            assert!(list.iter().all(|w| w.len() <= LONGEST_STOPWORD_BYTES));
        }
    }

    #[test]
    fn lookups() {
        assert!(is_english("the"));
        assert!(is_english("doesn"));
        assert!(!is_english("refund"));
        assert!(is_french("les"));
        assert!(is_french("été"));
        assert!(is_french("qu"));
        assert!(!is_french("car"));
        assert!(!is_french("remboursement"));
        assert_eq!(lists("on"), IN_ENGLISH | IN_FRENCH);
        assert_eq!(lists("refund"), 0);
    }
}
