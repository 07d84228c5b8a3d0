//! The one language detector: English or French, from stopword votes.

use frostem::Algorithm;

use super::stopwords::{IN_ENGLISH, IN_FRENCH, lists};
use super::tokenize::for_each_token;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    English,
    French,
    /// Not enough evidence (short text) or genuinely mixed: stem with both
    /// stemmers and drop only words that are stopwords in both languages, so
    /// e.g. "comment" in an English title is not lost.
    Both,
}

impl Lang {
    pub(crate) fn algorithms(self) -> &'static [Algorithm] {
        match self {
            Lang::English => &[Algorithm::English],
            Lang::French => &[Algorithm::French],
            Lang::Both => &[Algorithm::English, Algorithm::French],
        }
    }

    pub(crate) fn is_stopword(self, token: &str) -> bool {
        let lists = lists(token);
        match self {
            Lang::English => lists & IN_ENGLISH != 0,
            Lang::French => lists & IN_FRENCH != 0,
            Lang::Both => lists == IN_ENGLISH | IN_FRENCH,
        }
    }
}

/// Stopword counts used to guess the language of a text. Words present in
/// both lists ("on", "me", "as") carry no evidence and are not counted.
#[derive(Default)]
pub(crate) struct LangVotes {
    english: usize,
    french: usize,
}

impl LangVotes {
    pub(crate) fn add(&mut self, token: &str, count: usize) {
        match lists(token) {
            IN_ENGLISH => self.english += count,
            IN_FRENCH => self.french += count,
            _ => {}
        }
    }

    pub(crate) fn add_votes(&mut self, other: &LangVotes) {
        self.english += other.english;
        self.french += other.french;
    }

    /// A language wins only with at least two votes and twice the votes of
    /// the other, so a stray "comment" or "the" does not flip a text.
    pub(crate) fn lang(&self) -> Lang {
        if self.english >= 2 && self.english > 2 * self.french {
            Lang::English
        } else if self.french >= 2 && self.french > 2 * self.english {
            Lang::French
        } else {
            Lang::Both
        }
    }
}

impl LangVotes {
    /// The language with at least two votes more, else `Both` (used when
    /// the strict rule of [`lang`](Self::lang) cannot decide a whole entry;
    /// one stray "comment" in "Comment settings" decides nothing).
    pub(crate) fn majority(&self) -> Lang {
        if self.english >= self.french + 2 {
            Lang::English
        } else if self.french >= self.english + 2 {
            Lang::French
        } else {
            Lang::Both
        }
    }
}

/// The language of a document or paragraph: decided only on clear evidence
/// (see [`LangVotes::lang`]), `Both` otherwise.
pub fn detect_lang(text: &str) -> Lang {
    let mut votes = LangVotes::default();
    for_each_token(text, |t| votes.add(t, 1));
    votes.lang()
}

/// Letters French uses and English does not: one per word is a vote for
/// French, which decides short questions with no stopword ("purger les
/// paquets supprimés").
fn has_french_letter(token: &str) -> bool {
    token.chars().any(|c| {
        matches!(
            c,
            'é' | 'è' | 'ê' | 'à' | 'â' | 'ç' | 'ù' | 'û' | 'ô' | 'î' | 'ï' | 'œ' | 'ë'
        )
    })
}

/// The language a visitor writes in: always English or French (the answer
/// must be in one of them), French only when French evidence (stopwords,
/// French letters) outweighs English evidence; ties go to English.
pub fn visitor_lang(text: &str) -> Lang {
    evidence(text).unwrap_or(Lang::English)
}

/// English or French when the text shows any evidence either way (more
/// French stopwords and letters than English stopwords, or the reverse),
/// `None` for "configurer exim4" or "sudo": then ranking prefers neither.
pub fn evidence(text: &str) -> Option<Lang> {
    let mut votes = LangVotes::default();
    let mut letters = 0usize;
    for_each_token(text, |t| {
        votes.add(t, 1);
        letters += usize::from(has_french_letter(t));
    });
    match (votes.french + letters).cmp(&votes.english) {
        std::cmp::Ordering::Greater => Some(Lang::French),
        std::cmp::Ordering::Less => Some(Lang::English),
        std::cmp::Ordering::Equal => None,
    }
}
