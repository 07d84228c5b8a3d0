//! Search queries: free text to the positions the index evaluates.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use super::lang::{Lang, evidence};
use super::semantic::{self, Vector};
use super::stopwords::{IN_ENGLISH, IN_FRENCH, lists};
use super::tokenize::{for_each_token, for_each_variant, is_token_char, token_variants};

/// Upper bound on distinct terms kept from one query: a chat message can be
/// 15,000 chars and scoring cost grows with every term.
pub const MAX_QUERY_TERMS: usize = 32;

/// One query position: the alternative terms it may match (its stems under
/// both languages) and whether it is a stopword in either language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTerm {
    /// The word as typed (lowercased), the first of its forms in the text.
    word: String,
    variants: Vec<String>,
    stopword: bool,
    framing: bool,
    typos: u8,
    tolerant: bool,
}

/// Meilisearch's rule: one typo from 5 characters, two from 9; shorter
/// words have too many one-edit neighbours ("cat" -> "car", "hat") to guess.
pub(crate) fn allowed_typos(chars: usize) -> u8 {
    match chars {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

impl QueryTerm {
    /// A position (tests and synthetic queries).
    pub fn new(variants: Vec<String>, stopword: bool, typos: u8) -> Self {
        QueryTerm {
            word: String::new(),
            variants,
            stopword,
            framing: false,
            typos,
            tolerant: true,
        }
    }

    /// The word as typed (lowercased); empty for a synthetic position.
    pub fn word(&self) -> &str {
        &self.word
    }

    /// Whether the word frames the question ("long", "take", "faut") rather
    /// than names its topic: absent from the corpus, it weighs nothing.
    pub fn is_framing(&self) -> bool {
        self.framing
    }

    /// Edits (insert, delete, substitute, swap) the index may make to find
    /// this word when it is absent from the corpus as typed (0 unless the
    /// query was made [`typo_tolerant`](Query::typo_tolerant)).
    pub fn typos(&self) -> u8 {
        if self.tolerant { self.typos } else { 0 }
    }

    /// Whether the index may correct this word (typos, unfinished prefix)
    /// when it is absent as typed.
    pub fn is_tolerant(&self) -> bool {
        self.tolerant
    }

    /// Distinct, sorted index terms; a document matches this position if it
    /// contains any of them (scored with the best one, never summed).
    pub fn variants(&self) -> &[String] {
        &self.variants
    }

    /// Stopword positions ("comment", "the") never make a document a hit on
    /// their own unless the query has nothing else; they only refine ranking
    /// of documents where the word was indexed as a content word.
    pub fn is_stopword(&self) -> bool {
        self.stopword
    }
}

/// An analysed search query (see [`analyze_query`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    terms: Vec<QueryTerm>,
    lang: Option<Lang>,
    /// What the question means, when the index should also find entries by meaning.
    meaning: Option<Box<Vector>>,
    /// The text `meaning` was embedded from, to embed again with typos corrected.
    meaning_text: Option<Box<str>>,
    /// How many words the analysed text had, stopwords included.
    words: usize,
}

impl Query {
    pub fn terms(&self) -> &[QueryTerm] {
        &self.terms
    }

    /// The language the query is written in (English or French), `None`
    /// for queries built from terms.
    pub fn lang(&self) -> Option<Lang> {
        self.lang
    }

    /// The same query with typo and prefix correction on: a visitor's
    /// question ("debain" means "debian"). Plain [`analyze_query`] stays
    /// exact, as a search box listing entries expects.
    pub fn typo_tolerant(mut self) -> Query {
        for term in &mut self.terms {
            term.tolerant = true;
        }
        self
    }

    /// The same query also looking for entries about `text` that share none of its words
    /// (chat questions; a search box lists entries containing the words).
    pub fn with_meaning_of(self, text: &str) -> Query {
        match semantic::embed(text) {
            Some(vector) => {
                let mut query = self.with_meaning(vector);
                query.meaning_text = Some(text.into());
                query
            }
            None => self,
        }
    }

    /// The same query with this meaning vector (see [`with_meaning_of`](Self::with_meaning_of)).
    pub fn with_meaning(mut self, vector: Vector) -> Query {
        self.meaning = Some(Box::new(vector));
        self
    }

    /// The question's meaning vector (see [`with_meaning_of`](Self::with_meaning_of)).
    pub fn meaning(&self) -> Option<&Vector> {
        self.meaning.as_deref()
    }

    /// The meaning of the question as the index understood its words: embedded again with
    /// each word the index corrected ("upgarde") replaced by its first correction
    /// ("upgrad"). The pieces of a misspelt word mean little or something else: "upgarde
    /// everything to the latest debian version" was closest to "Debian archive basics",
    /// corrected to "System wide upgrade".
    pub fn meaning_as_corrected(&self, corrections: &[Vec<String>]) -> Option<Cow<'_, Vector>> {
        let vector = self.meaning.as_deref()?;
        let replaced: HashMap<&str, &str> = self
            .terms
            .iter()
            .zip(corrections)
            .filter_map(|(term, found)| Some((term.word.as_str(), found.first()?.as_str())))
            .filter(|(word, _)| !word.is_empty())
            .collect();
        let Some(text) = self
            .meaning_text
            .as_deref()
            .filter(|_| !replaced.is_empty())
        else {
            return Some(Cow::Borrowed(vector));
        };
        let mut corrected = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(is_token_char) {
            corrected.push_str(&rest[..start]);
            let word = &rest[start..];
            let end = word.find(|c: char| !is_token_char(c)).unwrap_or(word.len());
            let (word, after) = word.split_at(end);
            match replaced.get(word.to_lowercase().as_str()) {
                Some(correction) => corrected.push_str(correction),
                None => corrected.push_str(word),
            }
            rest = after;
        }
        corrected.push_str(rest);
        Some(semantic::embed(&corrected).map_or(Cow::Borrowed(vector), Cow::Owned))
    }

    /// The same query where position i also matches `extra[i]` (the index's
    /// typo corrections), so passages are chosen for the corrected words.
    pub fn with_corrections(&self, extra: &[Vec<String>]) -> Query {
        let mut query = self.clone();
        for (term, more) in query.terms.iter_mut().zip(extra) {
            for variant in more {
                if !term.variants.contains(variant) {
                    term.variants.push(variant.clone());
                }
            }
            term.variants.sort_unstable();
        }
        query
    }

    /// A query of explicit positions (tests and synthetic queries).
    pub fn from_terms(terms: Vec<QueryTerm>, lang: Option<Lang>) -> Self {
        Query {
            words: terms.len(),
            terms,
            lang,
            meaning: None,
            meaning_text: None,
        }
    }

    /// Positions of the query (distinct words).
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Words of the analysed text, stopwords and repeats included: how long the question is.
    pub fn words(&self) -> usize {
        self.words
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

struct QueryCandidate {
    word: String,
    count: u32,
    first: u32,
    stopword: bool,
    framing: bool,
    longest: usize,
}

/// Words that frame a question rather than name its topic ("how *long* do
/// refunds *take*", "*combien* de temps *faut*-il"). When the corpus lacks
/// one, that says nothing about the question being off-topic, so the index
/// gives it no weight then (present, it weighs by its idf like any word).
const FRAMING: &[&str] = &[
    "able",
    "anymore",
    "anyone",
    "anything",
    "ask",
    "can",
    "cost",
    "costs",
    "do",
    "does",
    "done",
    "explain",
    "find",
    "get",
    "gets",
    "getting",
    "got",
    "help",
    "idea",
    "know",
    "like",
    "long",
    "make",
    "many",
    "mean",
    "means",
    "much",
    "need",
    "needs",
    "possible",
    "show",
    "someone",
    "something",
    "still",
    "take",
    "takes",
    "taking",
    "tell",
    "thing",
    "things",
    "way",
    "ways",
    "want",
    "wants",
    "work",
    "works",
    "aide",
    "aider",
    "besoin",
    "chose",
    "choses",
    "dire",
    "expliquer",
    "faire",
    "fait",
    "faut",
    "marche",
    "moyen",
    "peut",
    "peux",
    "possible",
    "pouvez",
    "prend",
    "savoir",
    "trouver",
    "veux",
    "voudrais",
];

/// Hedges and chatter ("what *exactly* is", "*plz*", "*vraiment*"), and
/// contractions typed without their apostrophe ("*wont*", whose spelt form
/// gives the stopwords "won" and "t"): they never name a topic, so a
/// question weighs them as stopwords. Rare in a corpus, they would
/// otherwise outweigh the words that do ("what exactly is debian?" answered
/// from the one page saying "determine exactly which files").
const FILLERS: &[&str] = &[
    "actually",
    "anyway",
    "arent",
    "basically",
    "cant",
    "couldnt",
    "didnt",
    "doesnt",
    "exactly",
    "hasnt",
    "havent",
    "honestly",
    "im",
    "isnt",
    "ive",
    "kindly",
    "pls",
    "plz",
    "really",
    "shouldnt",
    "simply",
    "thats",
    "theres",
    "wasnt",
    "werent",
    "whats",
    "wont",
    "wouldnt",
    "youre",
    "exactement",
    "franchement",
    "simplement",
    "vraiment",
];

/// Words visitors type for what documentation names otherwise, with the words it uses: a
/// query word matches either. Abbreviations ("my edited *config* files" / "configuration
/// files") and desktop vocabulary for Unix terms ("*folders*" / "directories", "*delete*" /
/// "remove", "keyboard *shortcuts*" / "key bindings", "*downloaded*" / "fetched"), and the
/// spelling documentation hyphenates ("*email*" / "e-mail", indexed as "mail"). Looked up by
/// the English stem, so "docs" and "deleted" find their entries. Only words with one meaning
/// in a software help desk ("dev" is a device or a developer, so it is not here).
const EVERYDAY_WORDS: &[(&str, &[&str])] = &[
    (
        "admin",
        &["administrator", "administration", "administrateur"],
    ),
    ("app", &["application"]),
    ("appli", &["application"]),
    ("auth", &["authentication", "authentification"]),
    ("config", &["configuration"]),
    ("delete", &["remove"]),
    ("deps", &["dependencies", "dépendances"]),
    ("désinstaller", &["supprimer"]),
    ("dir", &["directory"]),
    ("distrib", &["distribution"]),
    ("distro", &["distribution"]),
    ("doc", &["documentation"]),
    ("dossier", &["répertoire"]),
    ("download", &["fetch"]),
    ("email", &["mail"]),
    ("env", &["environment", "environnement"]),
    ("folder", &["directory"]),
    ("info", &["information"]),
    ("perms", &["permissions"]),
    ("pkg", &["package", "paquet"]),
    ("prefs", &["preferences", "préférences"]),
    ("repo", &["repository", "dépôt"]),
    ("shortcut", &["binding"]),
    ("sync", &["synchronization", "synchronisation"]),
    ("uninstall", &["remove"]),
    ("wifi", &["wireless"]),
];

/// The forms of irregular English verbs, which no stemmer relates: "who *writes* the
/// software" / "Who *wrote* all that software?". A query word in one of these forms (or
/// inflected from one: "writes", "writing") matches them all. Left out: forms that are
/// also words of another sense in a software help desk ("left", "saw", "bit", "stuck",
/// "felt", "spoke", "ground"), and verbs that frame questions more than they name topics
/// ("find", "get", "know", "make", "take", "tell").
const IRREGULAR_VERBS: &[&[&str]] = &[
    &["become", "became"],
    &["begin", "began", "begun"],
    &["break", "broke", "broken"],
    &["bring", "brought"],
    &["build", "built"],
    &["buy", "bought"],
    &["catch", "caught"],
    &["choose", "chose", "chosen"],
    &["draw", "drew", "drawn"],
    &["drive", "drove", "driven"],
    &["forget", "forgot", "forgotten"],
    &["freeze", "froze", "frozen"],
    &["give", "gave", "given"],
    &["grow", "grew", "grown"],
    &["hide", "hid", "hidden"],
    &["hold", "held"],
    &["keep", "kept"],
    &["lose", "lost"],
    &["pay", "paid"],
    &["run", "ran"],
    &["sell", "sold"],
    &["send", "sent"],
    &["shrink", "shrank", "shrunk"],
    &["speak", "spoken"],
    &["spend", "spent"],
    &["steal", "stole", "stolen"],
    &["teach", "taught"],
    &["tear", "tore", "torn"],
    &["throw", "threw", "thrown"],
    &["understand", "understood"],
    &["wake", "woke", "woken"],
    &["wear", "wore", "worn"],
    &["write", "wrote", "written"],
];

/// Particles of English phrasal verbs, which documentation often writes as one word: "shut
/// down" / "shutdown", "log in" / "login", "set up" / "setup", "plug in" / "plugin".
const PARTICLES: &[&str] = &["up", "down", "in", "out", "off", "on"];

/// The one-word form of `verb particle` ("shutting" + "down" → "shutdown": the verb's
/// English stem and the particle), when `particle` is one. The verb's position of the
/// question also matches it; the particle, a stopword, weighs nothing either way.
fn phrasal_compound(verb: &str, particle: &str) -> Option<String> {
    if verb.is_empty() || !PARTICLES.contains(&particle) {
        return None;
    }
    let mut stems = Vec::new();
    token_variants(verb, Lang::English, &mut stems);
    stems.first().map(|stem| format!("{stem}{particle}"))
}

/// The words `token` also matches beyond its own stems: the documentation's word for an
/// everyday one, or the other forms of an irregular verb.
fn also_matches(token: &str) -> &'static [&'static str] {
    static BY_STEM: LazyLock<HashMap<String, &'static [&'static str]>> = LazyLock::new(|| {
        let listed = EVERYDAY_WORDS.iter().copied().chain(
            IRREGULAR_VERBS
                .iter()
                .flat_map(|&forms| forms.iter().map(move |&form| (form, forms))),
        );
        let mut by_stem = HashMap::new();
        let mut stems = Vec::new();
        for (word, words) in listed {
            token_variants(word, Lang::English, &mut stems);
            for stem in stems.drain(..) {
                by_stem.insert(stem, words);
            }
        }
        by_stem
    });
    let mut stems = Vec::new();
    token_variants(token, Lang::English, &mut stems);
    stems
        .iter()
        .find_map(|stem| BY_STEM.get(stem))
        .copied()
        .unwrap_or(&[])
}

/// Analyses free text (a search box or a whole chat message) into at most
/// [`MAX_QUERY_TERMS`] positions. The query language is not guessed: each
/// word is stemmed with both stemmers because short queries carry no
/// evidence and the tenant's documents may be in either language. When the
/// text has more distinct words than the cap, content words beat stopwords,
/// then repeated words beat single ones, then longer (more specific) words.
pub fn analyze_query(text: &str) -> Query {
    let mut tokens: HashMap<String, (u32, u32)> = HashMap::new();
    // A verb's compounds with the particle after it ("shut" → "shutdown").
    let mut compounds: HashMap<String, Vec<String>> = HashMap::new();
    let mut previous = String::new();
    let mut position = 0u32;
    let mut words = 0;
    for_each_token(text, |t| {
        words += 1;
        if let Some(compound) = phrasal_compound(&previous, t) {
            compounds
                .entry(previous.clone())
                .or_default()
                .push(compound);
        }
        previous.clear();
        previous.push_str(t);
        if lists(t) == IN_ENGLISH | IN_FRENCH {
            return;
        }
        if let Some(entry) = tokens.get_mut(t) {
            entry.0 = entry.0.saturating_add(1);
        } else {
            tokens.insert(t.to_owned(), (1, position));
        }
        position = position.saturating_add(1);
    });

    // Different surface forms with the same stems ("refund refunds") form
    // one position so they are not counted twice.
    let mut groups: HashMap<Vec<String>, QueryCandidate> = HashMap::new();
    let mut variants = Vec::new();
    for (token, (count, first)) in tokens {
        token_variants(&token, Lang::Both, &mut variants);
        if variants.is_empty() {
            continue;
        }
        for word in also_matches(&token) {
            for_each_variant(word, Lang::Both, |v| variants.push(v.to_owned()));
        }
        for word in compounds.get(&token).into_iter().flatten() {
            for_each_variant(word, Lang::Both, |v| variants.push(v.to_owned()));
        }
        variants.sort_unstable();
        variants.dedup();
        let stopword = lists(&token) != 0 || FILLERS.contains(&token.as_str());
        let framing = FRAMING.contains(&token.as_str());
        let longest = token.chars().count();
        match groups.get_mut(&variants) {
            Some(group) => {
                group.count = group.count.saturating_add(count);
                if first < group.first {
                    group.first = first;
                    group.word.clone_from(&token);
                }
                group.stopword &= stopword;
                group.framing &= framing;
                group.longest = group.longest.max(longest);
            }
            None => {
                groups.insert(
                    variants.clone(),
                    QueryCandidate {
                        word: token.clone(),
                        count,
                        first,
                        stopword,
                        framing,
                        longest,
                    },
                );
            }
        }
    }

    let mut ranked: Vec<(Vec<String>, QueryCandidate)> = groups.into_iter().collect();
    ranked.sort_unstable_by(|(_, a), (_, b)| {
        a.stopword
            .cmp(&b.stopword)
            .then(b.count.cmp(&a.count))
            .then(b.longest.cmp(&a.longest))
            .then(a.first.cmp(&b.first))
    });
    ranked.truncate(MAX_QUERY_TERMS);
    ranked.sort_unstable_by_key(|(_, c)| c.first);
    Query {
        terms: ranked
            .into_iter()
            .map(|(variants, c)| QueryTerm {
                word: c.word,
                variants,
                stopword: c.stopword,
                framing: c.framing,
                typos: allowed_typos(c.longest),
                tolerant: false,
            })
            .collect(),
        lang: evidence(text),
        meaning: None,
        meaning_text: None,
        words,
    }
}
