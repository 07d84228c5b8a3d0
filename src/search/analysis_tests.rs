//! Tests of the analysis pipeline (tokenise, language, stem, fold, codec).

use super::codec::FORMAT_V3;
use super::lang::{Lang, detect_lang};
use super::tokenize::{fold, for_each_token};
use super::*;

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, |t| out.push(t.to_owned()));
    out
}

fn doc_terms(doc: &AnalyzedDoc) -> Vec<String> {
    doc.terms().map(|(t, _, _)| t.to_owned()).collect()
}

/// Whether every query position finds at least one of its variants in
/// the document: the matching rule the index applies.
fn matches(query: &str, title: &str, content: &str) -> bool {
    let q = analyze_query(query);
    let doc = analyze_doc(title, content, &[]);
    let terms = doc_terms(&doc);
    !q.is_empty()
        && q.terms()
            .iter()
            .all(|qt| qt.variants().iter().any(|v| terms.contains(v)))
}

#[test]
fn tokenizer_splits_apostrophes_and_drops_short_tokens() {
    assert_eq!(
        tokens("L'assurance, c'est 2 fois 2024!"),
        ["assurance", "est", "fois", "2024"]
    );
    assert_eq!(tokens("Hello—WORLD x y"), ["hello", "world"]);
    assert_eq!(tokens(&"a".repeat(49)), Vec::<String>::new());
    assert_eq!(tokens("ÉLÈVE"), ["élève"]);
}

#[test]
fn decomposed_and_precomposed_accents_analyse_alike() {
    let nfd = "Ele\u{300}ve e\u{301}tudiant";
    let nfc = "Élève étudiant";
    assert_eq!(tokens(nfd), ["elève", "étudiant"]);
    assert_eq!(
        doc_terms(&analyze_doc("", nfd, &[])),
        doc_terms(&analyze_doc("", "Elève étudiant", &[]))
    );
    assert!(matches("eleve", "", nfc));
    assert!(matches("élève", "", "E\u{301}le\u{300}ve"));
}

#[test]
fn folding() {
    assert_eq!(fold("élève"), "eleve");
    assert_eq!(fold("cœur"), "coeur");
    assert_eq!(fold("straße"), "strasse");
    assert_eq!(fold("plain"), "plain");
}

#[test]
fn english_stemming_matches_inflections() {
    assert!(matches("refunds", "Refund policy", ""));
    assert!(matches("refunds", "", "We are refunding your order."));
    assert!(matches(
        "refund",
        "",
        "Refunds are processed within 5 days."
    ));
    assert!(!matches("refunds", "", "Shipping takes five days."));
}

#[test]
fn french_stemming_and_accents() {
    assert!(matches(
        "remboursement",
        "",
        "Le produit est remboursé sous 5 jours."
    ));
    assert!(matches(
        "remboursement",
        "",
        "Nous vous rembourse le produit et la livraison."
    ));
    assert!(matches("remboursé", "Demande de remboursement", ""));
    assert!(matches("café", "", "Le cafe est offert."));
    assert!(matches(
        "cafe",
        "",
        "Le café est offert à tous les clients."
    ));
    assert!(matches("Élève", "", "Chaque eleve a un compte."));
    assert!(matches(
        "eleve",
        "",
        "Chaque élève a un compte et une carte."
    ));
    // Same pairs in documents too short to detect a language.
    assert!(matches("cafe", "Café", ""));
    assert!(matches("eleve", "Élève", ""));
    assert!(matches("Élève", "eleves", ""));
    assert!(matches("coeur", "", "Le cœur du produit est la sécurité."));
}

#[test]
fn accents_match_in_english_documents_too() {
    // The English stemmer keeps "élève" whole but reduces "eleve" to
    // "elev": only the stem of the folded token bridges the two.
    let content = "The élève is in the class and the teacher is here.";
    assert_eq!(detect_lang(content), Lang::English);
    assert!(matches("eleve", "", content));
    assert!(matches(
        "élève",
        "",
        "The eleve is in the class and the teacher is here."
    ));
}

#[test]
fn language_detection() {
    assert_eq!(
        detect_lang("What is the refund policy for my order?"),
        Lang::English
    );
    assert_eq!(
        detect_lang("Comment obtenir le remboursement de ma commande ?"),
        Lang::French
    );
    assert_eq!(detect_lang("Refund policy"), Lang::Both);
    assert_eq!(detect_lang("Comment settings"), Lang::Both);
}

#[test]
fn stopwords_depend_on_detected_language() {
    let en = doc_terms(&analyze_doc(
        "How to delete a comment",
        "You can do it from the settings page.",
        &[],
    ));
    assert!(en.contains(&"comment".to_owned()), "{en:?}");
    assert!(!en.contains(&"the".to_owned()));
    assert!(!en.contains(&"how".to_owned()));
    let fr = doc_terms(&analyze_doc(
        "Comment supprimer un compte",
        "Vous pouvez le faire dans les réglages.",
        &[],
    ));
    assert!(!fr.contains(&"comment".to_owned()), "{fr:?}");
    assert!(!fr.contains(&"les".to_owned()));
    assert!(fr.contains(&"compt".to_owned()));
    // Too short to tell: only stopwords shared by both lists go.
    let short = doc_terms(&analyze_doc("Comment settings", "", &[]));
    assert!(short.contains(&"comment".to_owned()), "{short:?}");
}

#[test]
fn field_weights_tags_and_length() {
    let doc = analyze_doc(
        "Refund",
        "refund shipping",
        &["refund".to_owned(), "billing".to_owned()],
    );
    let get = |term: &str| {
        doc.terms()
            .find(|(t, _, _)| *t == term)
            .map(|(_, tf, tag)| (tf, tag))
    };
    assert_eq!(get("refund"), Some((3 + 1 + 2, true)));
    assert_eq!(get("ship"), Some((1, false)));
    assert_eq!(get("bill"), Some((2, true)));
    assert_eq!(doc.length(), 3 + 1 + 1 + 2 + 2);
}

#[test]
fn query_merges_forms_and_flags_stopwords() {
    let q = analyze_query("Refund refunds, the REFUNDING comment!");
    let variants: Vec<&[String]> = q.terms().iter().map(QueryTerm::variants).collect();
    assert_eq!(q.len(), 4, "{variants:?}");
    assert!(q.terms()[0].variants().contains(&"refund".to_owned()));
    assert!(q.terms()[1].is_stopword()); // the
    assert!(q.terms()[3].is_stopword()); // comment (French stopword)
    // Shared stopwords disappear entirely.
    assert!(analyze_query("on me as").is_empty());
}

#[test]
fn an_everyday_word_finds_the_word_documentation_uses() {
    assert!(matches(
        "edited config files",
        "Configuration files",
        "Edited configuration files are kept on upgrade."
    ));
    assert!(matches(
        "admin attention",
        "Attention",
        "It needs the attention of an administrator."
    ));
    assert!(matches(
        "applis bureau",
        "Applications",
        "Les applications du bureau."
    ));
    // Desktop words for Unix terms, in any of their forms.
    assert!(matches(
        "folders on the mirror",
        "Directories",
        "The mirror's directory tree."
    ));
    assert!(matches(
        "deleted files",
        "Removing files",
        "rm removes a file."
    ));
    assert!(matches("dossier personnel", "Répertoire personnel", ""));
    assert!(matches(
        "shortcuts aptitude",
        "Key bindings of aptitude",
        ""
    ));
    assert!(matches(
        "email maintainer",
        "Maintainers",
        "Reach a maintainer by e-mail."
    ));
    assert!(matches(
        "downloaded packages",
        "",
        "apt keeps the fetched packages in its cache."
    ));
    // The abbreviation itself still matches, as one position of the question.
    assert!(matches(
        "git config",
        "Git",
        "Run git config to set your name."
    ));
    assert_eq!(analyze_query("config").len(), 1);
}

#[test]
fn the_forms_of_an_irregular_verb_find_each_other() {
    assert!(matches(
        "writes software",
        "Who wrote all that software?",
        ""
    ));
    assert!(matches(
        "forgot password",
        "A forgotten password",
        "Reset it as root."
    ));
    assert!(matches(
        "lose data",
        "",
        "Data lost in a crash can be restored."
    ));
    assert!(matches("broke system", "Recovery from a broken system", ""));
    // Regular stemming is not disturbed, and words of another sense are not forms.
    assert!(matches("writing scripts", "Write a script", ""));
    assert!(!matches("left", "Leave the shell", ""));
}

#[test]
fn a_phrasal_verb_finds_its_one_word_form() {
    let matched = |query: &str, term: &str| {
        analyze_query(query)
            .terms()
            .iter()
            .any(|t| !t.is_stopword() && t.variants().iter().any(|v| v == term))
    };
    assert!(matched("how to shut down a remote server", "shutdown"));
    assert!(matched("who is logged in", "login"));
    assert!(matched("setting up a printer", "setup"));
    assert!(matched("plug in a usb stick", "plugin"));
    // The verb keeps its own stem, and a verb without its particle gets no compound.
    assert!(matched("how to shut down a remote server", "shut"));
    assert!(!matched("shut the remote server", "shutdown"));
}

#[test]
fn a_contraction_typed_without_its_apostrophe_weighs_as_it_does_with_it() {
    // "won't" gives the stopwords "won" and "t"; "wont", rare in any corpus, would weigh
    // as the question's most specific word.
    for (typed, spelt) in [
        ("my app wont close", "my app won't close"),
        ("whats a symlink", "what's a symlink"),
        ("wifi doesnt work", "wifi doesn't work"),
    ] {
        let content = |text: &str| -> Vec<Vec<String>> {
            analyze_query(text)
                .terms()
                .iter()
                .filter(|t| !t.is_stopword())
                .map(|t| t.variants().to_vec())
                .collect()
        };
        assert_eq!(content(typed), content(spelt), "{typed}");
    }
}

#[test]
fn long_query_is_capped_and_prefers_content_words() {
    let mut text = String::from("the and of to ");
    for i in 0..2000 {
        text.push_str(&format!("word{i} "));
    }
    text.push_str("shipping shipping shipping");
    let q = analyze_query(&text);
    assert_eq!(q.len(), MAX_QUERY_TERMS);
    assert!(q.terms().iter().all(|t| !t.is_stopword()));
    assert!(
        q.terms()
            .iter()
            .any(|t| t.variants().contains(&"ship".to_owned()))
    );
}

#[test]
fn encode_decode_round_trip() {
    let doc = analyze_doc(
        "Remboursement et échanges",
        "Les clients peuvent demander un remboursement sous 30 jours. Café offert, élève.",
        &["facturation".to_owned(), "après-vente".to_owned()],
    );
    assert!(doc.term_count() > 5);
    let bytes = doc.encode();
    assert_eq!(AnalyzedDoc::decode(&bytes), Ok(doc.clone()));
    let empty = AnalyzedDoc::default();
    assert_eq!(AnalyzedDoc::decode(&empty.encode()), Ok(empty));
    let big = AnalyzedDoc::from_parts([("a", u32::MAX, true), ("é", 1, false)], u32::MAX);
    assert_eq!(AnalyzedDoc::decode(&big.encode()), Ok(big));
    // An entry's meaning vector is stored with its terms (and none for a lone analysis).
    let entry = analyze_entry("Refund policy", "Refunds take five days.", &[]);
    assert!(entry.meaning().is_some() && doc.meaning().is_none());
    assert_eq!(AnalyzedDoc::decode(&entry.encode()), Ok(entry.clone()));
    assert_eq!(
        entry.encode().len(),
        analyze_doc("Refund policy", "Refunds take five days.", &[])
            .encode()
            .len()
            + semantic::Packed::BYTES
    );
}

#[test]
fn decode_rejects_other_versions_and_garbage() {
    let doc = analyze_doc("Refund", "Refunds take five days", &[]);
    let mut bytes = doc.encode();
    bytes[1] = (ANALYZER_VERSION + 1) as u8;
    assert_eq!(
        AnalyzedDoc::decode(&bytes),
        Err(DecodeError::AnalyzerVersion(ANALYZER_VERSION + 1))
    );
    assert_eq!(AnalyzedDoc::decode(&[]), Err(DecodeError::Truncated));
    assert_eq!(
        AnalyzedDoc::decode(&[9]),
        Err(DecodeError::UnknownFormat(9))
    );
    let mut trailing = doc.encode();
    trailing.push(0);
    assert_eq!(
        AnalyzedDoc::decode(&trailing),
        Err(DecodeError::TrailingBytes)
    );
    // A count far beyond the payload must fail before allocating.
    let forged = [
        FORMAT_V3,
        ANALYZER_VERSION as u8,
        1,
        0,
        0xff,
        0xff,
        0xff,
        0xff,
        0x0f,
    ];
    assert_eq!(AnalyzedDoc::decode(&forged), Err(DecodeError::Truncated));
}

#[test]
fn decode_never_panics_on_fuzzed_input() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // With a meaning vector, so its marker and bytes are fuzzed too.
    let valid = analyze_entry(
        "Élève café",
        "Remboursement des frais de scolarité et du cœur du café.",
        &["tag".to_owned()],
    )
    .encode();
    for cut in 0..valid.len() {
        assert!(AnalyzedDoc::decode(&valid[..cut]).is_err());
    }
    for _ in 0..20_000 {
        let mut bytes = valid.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % bytes.len();
            bytes[i] = next() as u8;
        }
        if let Ok(doc) = AnalyzedDoc::decode(&bytes) {
            // Whatever decodes must be internally consistent.
            assert_eq!(AnalyzedDoc::decode(&doc.encode()), Ok(doc.clone()));
            assert!(doc.terms().all(|(t, tf, _)| !t.is_empty() && tf > 0));
        }
        let len = (next() % 64) as usize;
        let mut random: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(first) = random.first_mut() {
            *first = FORMAT_V3;
        }
        if random.len() > 1 {
            random[1] = ANALYZER_VERSION as u8;
        }
        let _ = AnalyzedDoc::decode(&random);
    }
}

#[test]
fn french_stopwords_of_mixed_entries_never_become_terms() {
    // A French page keeping untranslated English paragraphs.
    let doc = analyze_doc(
        "L'invite de l'interpréteur de commandes",
        "Upon starting the system, you are presented with the login screen if you did not \
         install any desktop.\n\n\
         À l'invite d'identification, entrez votre nom d'utilisateur et pressez la touche \
         Entrée. Comment le mot de passe est-il vérifié ? Il est comparé.\n\n\
         The login prompt looks as follows on the console.",
        &[],
    );
    let terms = doc_terms(&doc);
    for stopword in ["de", "la", "est", "comment", "le", "il"] {
        assert!(
            !terms.contains(&stopword.to_owned()),
            "{stopword}: {terms:?}"
        );
    }
    for english in ["login", "prompt", "consol"] {
        assert!(terms.contains(&english.to_owned()), "{english}: {terms:?}");
    }
    assert_eq!(doc.lang(), Some(Lang::French));
    let bytes = doc.encode();
    assert_eq!(
        AnalyzedDoc::decode(&bytes).map(|d| d.lang()),
        Ok(Some(Lang::French))
    );
}

/// An entry's meaning vector has unit length whatever its title and content say: the plain
/// mean of the two vectors is shorter the more they differ, which made such an entry score
/// lower against every question.
#[test]
fn an_entry_meaning_is_a_unit_direction_even_when_title_and_content_differ() {
    for (title, content) in [
        ("Refund policy", "Refunds take five days."),
        (
            "Miscellaneous",
            "Parcels leave the warehouse daily; tracking links come by email.",
        ),
        (
            "Horaires",
            "The shop opens at 9am on weekdays and at 11am on Sundays.",
        ),
    ] {
        let entry = analyze_entry(title, content, &[]);
        let vector = entry.meaning().expect("text has a meaning").unpack();
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 0.01, "{title}: {norm}");
    }
}

#[test]
fn the_meaning_is_embedded_again_with_the_corrected_words() {
    let text = "Upgarde everything, then reboot!";
    let query = analyze_query(text).typo_tolerant().with_meaning_of(text);
    let typed = query
        .terms()
        .iter()
        .position(|t| t.variants().contains(&"upgard".to_owned()));
    let mut corrections = vec![Vec::new(); query.len()];
    let unchanged = query.meaning_as_corrected(&corrections);
    assert_eq!(unchanged.as_deref(), query.meaning());
    corrections[typed.expect("upgarde is a position")] =
        vec!["upgrad".to_owned(), "upgar".to_owned()];
    let corrected = query.meaning_as_corrected(&corrections);
    assert_eq!(
        corrected.as_deref(),
        crate::search::semantic::embed("upgrad everything, then reboot!").as_ref()
    );
    assert_ne!(corrected.as_deref(), query.meaning());
    // A query without a meaning has none to correct.
    assert!(
        analyze_query(text)
            .meaning_as_corrected(&corrections)
            .is_none()
    );
}
