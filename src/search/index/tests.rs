use super::*;
use crate::search::semantic::{DIM, Packed, Vector};
use crate::search::{Query, QueryTerm, analyze_doc, analyze_entry, analyze_query};

fn meta(id: &str, segment: Option<&str>, priority: u8, created_us: i64) -> DocMeta {
    DocMeta {
        id: id.to_owned(),
        segment: segment.map(str::to_owned),
        priority,
        created_us,
    }
}

fn add(index: &mut TenantIndex, id: &str, title: &str, content: &str) {
    let created = index.len() as i64;
    index.upsert(
        meta(id, None, 5, created),
        &analyze_doc(title, content, &[]),
    );
}

fn ids(index: &TenantIndex, query: &str) -> Vec<String> {
    let (total, hits) = index.search(&analyze_query(query), SegmentFilter::Any, 0, 100);
    assert_eq!(total, hits.len());
    hits.into_iter().map(|h| h.id).collect()
}

fn fuzzy_ids(index: &TenantIndex, query: &str) -> Vec<String> {
    let query = analyze_query(query).typo_tolerant();
    let (_, hits) = index.search(&query, SegmentFilter::Any, 0, 100);
    hits.into_iter().map(|h| h.id).collect()
}

fn listed(index: &TenantIndex, filter: SegmentFilter<'_>) -> Vec<String> {
    let (total, ids) = index.list_newest(filter, 0, 10_000);
    assert_eq!(total, ids.len());
    ids
}

/// A tenant big enough that compaction is deferred (tombstones live).
fn big_index(docs: usize) -> TenantIndex {
    let mut index = TenantIndex::new();
    for d in 0..docs {
        let terms = (0..120).map(|t| (format!("filler{}", (d * 7 + t * 13) % 5000), 1, false));
        let doc = AnalyzedDoc::from_parts(terms, 120);
        index.upsert(meta(&format!("bulk{d:05}"), None, 5, d as i64), &doc);
    }
    index
}

#[test]
fn gallop_finds_lower_bound() {
    let slots = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21];
    for from in 0..slots.len() {
        for target in 0..24 {
            let expected = from + slots[from..].partition_point(|&s| s < target);
            assert_eq!(gallop(&slots, from, target), expected, "{from} {target}");
        }
    }
    assert_eq!(gallop(&[], 0, 5), 0);
}

#[test]
fn stemmed_query_finds_inflected_document() {
    let mut index = TenantIndex::new();
    add(
        &mut index,
        "refund",
        "Refund policy",
        "How we refund an order.",
    );
    add(&mut index, "ship", "Shipping", "Orders ship in two days.");
    assert_eq!(ids(&index, "refunds"), ["refund"]);
    assert_eq!(ids(&index, "Refunding"), ["refund"]);
    assert_eq!(ids(&index, "shipped"), ["ship"]);
}

#[test]
fn accents_are_folded() {
    let mut index = TenantIndex::new();
    add(
        &mut index,
        "fr",
        "Remboursement",
        "Le produit est remboursé sous cinq jours.",
    );
    add(
        &mut index,
        "cafe",
        "Le café",
        "Le cafe est offert à chaque visite.",
    );
    add(
        &mut index,
        "eleve",
        "Inscription",
        "Chaque élève reçoit une carte.",
    );
    assert_eq!(ids(&index, "remboursement"), ["fr"]);
    assert_eq!(ids(&index, "rembourse"), ["fr"]);
    assert_eq!(ids(&index, "cafe"), ["cafe"]);
    assert_eq!(ids(&index, "café"), ["cafe"]);
    assert_eq!(ids(&index, "Eleve"), ["eleve"]);
}

#[test]
fn priority_breaks_ties_between_equally_relevant_entries() {
    let mut index = TenantIndex::new();
    let doc = analyze_doc("Password reset", "Use the reset link.", &[]);
    // The low-priority entry is newer, so without the boost it would win.
    index.upsert(meta("high", None, 8, 1), &doc);
    index.upsert(meta("low", None, 3, 2), &doc);
    index.upsert(meta("default", None, 5, 3), &doc);
    assert_eq!(ids(&index, "reset password"), ["high", "default", "low"]);
}

#[test]
fn priority_does_not_beat_clearly_better_text_match() {
    let mut index = TenantIndex::new();
    index.upsert(
        meta("relevant", None, 1, 1),
        &analyze_doc("Password reset", "How to reset a forgotten password.", &[]),
    );
    index.upsert(
        meta("pushy", None, 10, 2),
        &analyze_doc(
            "Account security",
            "Choose a strong password for your account.",
            &[],
        ),
    );
    index.upsert(
        meta("unrelated", None, 10, 3),
        &analyze_doc("Shipping", "Parcels leave the warehouse daily.", &[]),
    );
    assert_eq!(ids(&index, "reset password"), ["relevant", "pushy"]);
}

#[test]
fn tag_match_is_boosted() {
    let mut index = TenantIndex::new();
    // Same weighted frequency (tag x2 vs content twice) and length; the
    // untagged one is newer so it would win a tie.
    index.upsert(
        meta("tagged", None, 5, 1),
        &analyze_doc("Invoices", "Download monthly.", &["billing".to_owned()]),
    );
    index.upsert(
        meta("plain", None, 5, 2),
        &analyze_doc("Invoices", "Download billing monthly billing.", &[]),
    );
    let (_, hits) = index.search(&analyze_query("billing"), SegmentFilter::Any, 0, 10);
    assert_eq!(hits[0].id, "tagged");
    assert!(hits[0].score > hits[1].score * 1.2, "{hits:?}");
}

#[test]
fn segment_filters_isolate_entries() {
    let mut index = TenantIndex::new();
    let doc = analyze_doc("Opening hours", "We are open daily.", &[]);
    index.upsert(meta("global", None, 5, 1), &doc);
    index.upsert(meta("paris", Some("paris"), 5, 2), &doc);
    index.upsert(meta("lyon", Some("lyon"), 5, 3), &doc);
    let q = analyze_query("opening hours");
    let search = |filter| {
        let (total, hits) = index.search(&q, filter, 0, 10);
        assert_eq!(total, hits.len());
        let mut ids: Vec<String> = hits.into_iter().map(|h| h.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(search(SegmentFilter::Any), ["global", "lyon", "paris"]);
    assert_eq!(search(SegmentFilter::Exact("paris")), ["paris"]);
    assert_eq!(
        search(SegmentFilter::SegmentOrGlobal("paris")),
        ["global", "paris"]
    );
    assert_eq!(search(SegmentFilter::Exact("nice")), Vec::<String>::new());
    assert_eq!(search(SegmentFilter::SegmentOrGlobal("nice")), ["global"]);

    assert_eq!(
        listed(&index, SegmentFilter::Any),
        ["lyon", "paris", "global"]
    );
    assert_eq!(listed(&index, SegmentFilter::Exact("lyon")), ["lyon"]);
    assert_eq!(
        listed(&index, SegmentFilter::SegmentOrGlobal("lyon")),
        ["lyon", "global"]
    );
    assert_eq!(
        listed(&index, SegmentFilter::Exact("nice")),
        Vec::<String>::new()
    );
    assert_eq!(
        listed(&index, SegmentFilter::SegmentOrGlobal("nice")),
        ["global"]
    );
}

#[test]
fn removed_doc_is_never_returned() {
    for mut index in [TenantIndex::new(), big_index(1_000)] {
        let doc = analyze_doc("Warranty", "Two year warranty on devices.", &[]);
        index.upsert(meta("keep", Some("s"), 5, 10_000), &doc);
        index.upsert(meta("gone", Some("s"), 5, 10_001), &doc);
        let before = index.len();
        assert!(index.remove("gone"));
        assert!(!index.remove("gone"));
        assert_eq!(index.len(), before - 1);
        for filter in [
            SegmentFilter::Any,
            SegmentFilter::Exact("s"),
            SegmentFilter::SegmentOrGlobal("s"),
        ] {
            let (total, hits) = index.search(&analyze_query("warranty"), filter, 0, 10);
            assert_eq!((total, hits.len()), (1, 1));
            assert_eq!(hits[0].id, "keep");
            assert!(!listed(&index, filter).contains(&"gone".to_owned()));
        }
        index.compact();
        assert_eq!(ids(&index, "warranty"), ["keep"]);
        assert!(!index.contains("gone"));
    }
}

#[test]
fn tombstones_are_compacted_eventually() {
    let mut index = big_index(1_000);
    assert!(index.total_postings > CHEAP_COMPACTION_POSTINGS);
    for d in 0..200 {
        index.remove(&format!("bulk{d:05}"));
    }
    // 1/8 of 1000 slots reached at the 125th removal.
    assert!(index.dead < 125, "dead = {}", index.dead);
    assert_eq!(index.len(), 800);
    assert_eq!(index.slot_id.len(), 800 + index.dead);
    let (total, _) = index.list_newest(SegmentFilter::Any, 0, 0);
    assert_eq!(total, 800);
}

#[test]
fn upsert_replaces_previous_version() {
    for mut index in [TenantIndex::new(), big_index(1_000)] {
        let base = index.len();
        index.upsert(
            meta("doc", None, 5, 1),
            &analyze_doc("Parking", "Free parking.", &[]),
        );
        index.upsert(
            meta("doc", Some("x"), 5, 2),
            &analyze_doc("Wifi", "Free wifi.", &[]),
        );
        assert_eq!(index.len(), base + 1);
        assert!(ids(&index, "parking").is_empty());
        assert_eq!(ids(&index, "wifi"), ["doc"]);
        assert_eq!(listed(&index, SegmentFilter::Exact("x")), ["doc"]);
        assert!(!listed(&index, SegmentFilter::SegmentOrGlobal("y")).contains(&"doc".to_owned()));
    }
}

#[test]
fn list_newest_order_and_pagination() {
    let mut index = TenantIndex::new();
    let doc = AnalyzedDoc::default();
    for (id, created) in [("a", 10), ("b", 30), ("c", 20), ("d", 30), ("e", 5)] {
        index.upsert(meta(id, None, 5, created), &doc);
    }
    assert_eq!(
        listed(&index, SegmentFilter::Any),
        ["d", "b", "c", "a", "e"]
    );
    assert_eq!(
        index.list_newest(SegmentFilter::Any, 1, 2),
        (5, vec!["b".to_owned(), "c".to_owned()])
    );
    assert_eq!(
        index.list_newest(SegmentFilter::Any, 4, 10),
        (5, vec!["e".to_owned()])
    );
    assert_eq!(index.list_newest(SegmentFilter::Any, 9, 10), (5, vec![]));
    // Merged segment + global listing keeps the global order.
    index.upsert(meta("s1", Some("s"), 5, 25), &doc);
    index.upsert(meta("s2", Some("s"), 5, 1), &doc);
    assert_eq!(
        listed(&index, SegmentFilter::SegmentOrGlobal("s")),
        ["d", "b", "s1", "c", "a", "e", "s2"]
    );
    assert_eq!(
        index.list_newest(SegmentFilter::SegmentOrGlobal("s"), 2, 2),
        (7, vec!["s1".to_owned(), "c".to_owned()])
    );
}

/// Bulk and incremental builds list the same pages in the same order, whatever order the
/// documents arrive in, and deletions leave no gaps.
#[test]
fn listing_pages_agree_between_bulk_and_incremental_builds() {
    let docs: Vec<DocMeta> = (0..300)
        .map(|i: i64| {
            let segment = ["a", "b"].get((i % 3) as usize).copied();
            // Creation times out of storage order, some equal (ties broken by id).
            meta(&format!("d{i:03}"), segment, 5, (i * 7919) % 101)
        })
        .collect();
    let with_doc = |m: &DocMeta| (m.clone(), AnalyzedDoc::default());
    let mut bulk = TenantIndex::from_docs(docs.iter().map(with_doc));
    let mut incremental = TenantIndex::new();
    for m in &docs {
        incremental.upsert(m.clone(), &AnalyzedDoc::default());
    }
    for index in [&mut bulk, &mut incremental] {
        for i in (0..300).step_by(5) {
            index.remove(&format!("d{i:03}"));
        }
    }
    for filter in [
        SegmentFilter::Any,
        SegmentFilter::Exact("a"),
        SegmentFilter::SegmentOrGlobal("b"),
    ] {
        let all = listed(&incremental, filter);
        assert_eq!(listed(&bulk, filter), all);
        let mut expected: Vec<&DocMeta> = docs.iter().filter(|m| all.contains(&m.id)).collect();
        expected.sort_by(|x, y| (y.created_us, &y.id).cmp(&(x.created_us, &x.id)));
        let expected: Vec<String> = expected.iter().map(|m| m.id.clone()).collect();
        assert_eq!(all, expected);
        for offset in [0, 1, 19, 20, all.len() - 1, all.len(), all.len() + 5] {
            let page = bulk.list_newest(filter, offset, 20);
            let want: Vec<String> = all.iter().skip(offset).take(20).cloned().collect();
            assert_eq!(page, (all.len(), want), "offset {offset}");
        }
    }
}

#[test]
fn search_pagination_is_consistent() {
    let mut index = TenantIndex::new();
    for i in 0..30 {
        let content = "refund ".repeat(1 + i % 7);
        index.upsert(
            meta(&format!("d{i:02}"), None, (1 + i % 10) as u8, i as i64),
            &analyze_doc("", &content, &[]),
        );
    }
    let q = analyze_query("refund");
    let (total, all) = index.search(&q, SegmentFilter::Any, 0, 100);
    assert_eq!(total, 30);
    assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
    let mut paged = Vec::new();
    for page in 0..4 {
        let (t, hits) = index.search(&q, SegmentFilter::Any, page * 8, 8);
        assert_eq!(t, 30);
        paged.extend(hits);
    }
    assert_eq!(paged, all);
    assert_eq!(index.search(&q, SegmentFilter::Any, 30, 5), (30, vec![]));
    assert_eq!(index.search(&q, SegmentFilter::Any, 0, 0), (30, vec![]));
}

#[test]
fn common_terms_only_refine_rarer_matches() {
    let mut index = TenantIndex::new();
    for d in 0..1_200 {
        let mut terms = vec![
            ("common".to_owned(), 1, false),
            (format!("filler{d}"), 1, false),
        ];
        if d % 400 == 0 {
            terms.push(("rare".to_owned(), 1, false));
        }
        if d == 800 {
            terms[0].1 = 5;
        }
        index.upsert(
            meta(&format!("d{d}"), None, 5, d),
            &AnalyzedDoc::from_parts(terms, 3),
        );
    }
    let (total, hits) = index.search(&analyze_query("common rare"), SegmentFilter::Any, 0, 10);
    assert_eq!(total, 3, "common must not add candidates");
    assert_eq!(hits[0].id, "d800", "common still contributes to the score");
    let (total, _) = index.search(&analyze_query("common"), SegmentFilter::Any, 0, 10);
    assert_eq!(total, 1_200, "a query of common terms still works");
}

#[test]
fn stopword_positions_only_refine_unless_alone() {
    let mut index = TenantIndex::new();
    add(&mut index, "comments", "Comment settings", "");
    add(&mut index, "moderation", "Moderation", "");
    add(&mut index, "both", "Comment moderation", "");
    assert_eq!(ids(&index, "comment"), ["both", "comments"]);
    assert_eq!(ids(&index, "comment moderation"), ["both", "moderation"]);
}

#[test]
fn variants_of_one_position_are_not_summed() {
    // A short title is indexed with both stemmers: "refunding" yields
    // "refund" (English) and "refunding" (French), and the query
    // produces the same two variants for its single position.
    let mut index = TenantIndex::new();
    add(&mut index, "both", "Refunding", "");
    let one = AnalyzedDoc::from_parts([("refund", 3, false)], 3);
    let other = AnalyzedDoc::from_parts([("refunding", 3, false)], 3);
    index.upsert(meta("one", None, 5, 0), &one);
    index.upsert(meta("other", None, 5, 0), &other);
    let (_, hits) = index.search(&analyze_query("refunding"), SegmentFilter::Any, 0, 10);
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].id, "both");
    // Equal idf for both variants: summing would double the score.
    let ratio = hits[0].score / hits[2].score;
    assert!((0.99..1.01).contains(&ratio), "{hits:?}");
}

#[test]
fn bulk_build_matches_incremental_build() {
    let texts = [
        ("a", "Refund policy", "Refunds within 14 days.", None),
        (
            "b",
            "Shipping",
            "We ship to France and Belgium.",
            Some("eu"),
        ),
        (
            "c",
            "Remboursement",
            "Le remboursement est rapide.",
            Some("fr"),
        ),
        (
            "a",
            "Refund policy v2",
            "Refunds within 30 days, shipping included.",
            None,
        ),
        ("d", "Café", "Le café est offert.", Some("fr")),
    ];
    let docs: Vec<(DocMeta, AnalyzedDoc)> = texts
        .iter()
        .enumerate()
        .map(|(i, (id, title, content, seg))| {
            (
                meta(id, *seg, 5, i as i64),
                analyze_doc(title, content, &[]),
            )
        })
        .collect();
    let bulk = TenantIndex::from_docs(docs.clone());
    let mut incremental = TenantIndex::new();
    for (m, d) in &docs {
        incremental.upsert(m.clone(), d);
    }
    assert_eq!(bulk.len(), 4);
    for query in [
        "refund",
        "14 days",
        "30 days",
        "shipping",
        "remboursement",
        "cafe",
    ] {
        for filter in [SegmentFilter::Any, SegmentFilter::SegmentOrGlobal("fr")] {
            let q = analyze_query(query);
            assert_eq!(
                bulk.search(&q, filter, 0, 10),
                incremental.search(&q, filter, 0, 10),
                "{query}"
            );
        }
    }
    assert_eq!(
        ids(&bulk, "14"),
        Vec::<String>::new(),
        "replaced version must be gone"
    );
    assert_eq!(
        bulk.list_newest(SegmentFilter::Any, 0, 10),
        incremental.list_newest(SegmentFilter::Any, 0, 10)
    );
}

#[test]
fn shared_index_is_thread_safe_and_survives_poisoning() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Index>();
    let index = Arc::new(Index::new());
    index.upsert(
        "acme",
        meta("a", None, 5, 1),
        &analyze_doc("Refund", "", &[]),
    );
    index.upsert(
        "other",
        meta("b", None, 5, 1),
        &analyze_doc("Refund", "", &[]),
    );
    let poisoner = Arc::clone(&index);
    let result = std::thread::spawn(move || {
        let tenant = poisoner.tenant("acme");
        let _guard = write_lock(&tenant);
        panic!("poison the tenant lock");
    })
    .join();
    assert!(result.is_err());
    let q = analyze_query("refunds");
    assert_eq!(index.search("acme", &q, SegmentFilter::Any, 0, 10).0, 1);
    assert_eq!(
        index.search("other", &q, SegmentFilter::Any, 0, 10).1[0].id,
        "b"
    );
    assert_eq!(
        index.search("nobody", &q, SegmentFilter::Any, 0, 10),
        (0, vec![])
    );
    assert!(index.remove("acme", "a"));
    assert_eq!(index.tenant_len("acme"), 0);
    assert!(index.drop_tenant("other"));
    assert_eq!(
        index.list_newest("other", SegmentFilter::Any, 0, 10),
        (0, vec![])
    );
    index.replace_tenant(
        "fresh",
        TenantIndex::from_docs([(meta("x", None, 5, 1), analyze_doc("Wifi", "", &[]))]),
    );
    assert_eq!(
        index.list_newest("fresh", SegmentFilter::Any, 0, 10).1,
        ["x"]
    );
}

#[test]
fn one_typo_from_five_letters_two_from_nine_exact_first() {
    let mut index = TenantIndex::new();
    add(
        &mut index,
        "debian",
        "Debian",
        "The universal operating system.",
    );
    add(
        &mut index,
        "config",
        "Configuration",
        "Edit the configuration file.",
    );
    add(&mut index, "mail", "Thunderbird", "A mail client.");
    add(&mut index, "vim", "Vim", "A text editor.");
    assert_eq!(fuzzy_ids(&index, "debain"), ["debian"]);
    assert!(ids(&index, "debain").is_empty(), "plain queries stay exact");
    assert_eq!(
        fuzzy_ids(&index, "thundrebrid"),
        ["mail"],
        "two swaps at eleven letters"
    );
    assert_eq!(
        fuzzy_ids(&index, "tnudrebrid"),
        Vec::<String>::new(),
        "three edits"
    );
    assert_eq!(
        fuzzy_ids(&index, "xhunderbird"),
        Vec::<String>::new(),
        "first letter kept"
    );
    assert_eq!(
        fuzzy_ids(&index, "dbeain"),
        Vec::<String>::new(),
        "two edits at six letters"
    );
    assert_eq!(
        fuzzy_ids(&index, "vin"),
        Vec::<String>::new(),
        "short words are exact"
    );
    assert_eq!(
        fuzzy_ids(&index, "debi"),
        ["debian"],
        "prefix of four letters"
    );
    // A long word is also corrected one edit away on the word: the stem of the misspelt
    // word keeps the suffix the right spelling loses ("diffrence" → "diffrenc", "difference"
    // → "differ", three edits apart).
    add(
        &mut index,
        "diff",
        "Diff",
        "Show the difference between two files.",
    );
    assert_eq!(fuzzy_ids(&index, "diffrence"), ["diff"]);
    assert_eq!(
        fuzzy_ids(&index, "dfiference"),
        ["diff"],
        "a swap, one edit on the word"
    );
    assert_eq!(
        fuzzy_ids(&index, "xifference"),
        Vec::<String>::new(),
        "first letter kept there too"
    );
    // A document spelling the word as typed ranks above the corrected match.
    add(&mut index, "typo", "Debain", "A mirror named debain.");
    assert_eq!(fuzzy_ids(&index, "debain"), ["typo"]);
    add(&mut index, "other", "Mirrors", "The debain mirror list.");
    let explained = index.explain(
        &analyze_query("debain").typo_tolerant(),
        SegmentFilter::Any,
        0,
        10,
    );
    assert!(
        explained.hits.iter().all(|h| h.id != "debian"),
        "corrections only for words absent as typed: {explained:?}"
    );
}

#[test]
fn typos_searched_on_the_word_are_bounded_per_query() {
    let mut index = TenantIndex::new();
    add(
        &mut index,
        "words",
        "Words",
        "difference permission installation encryption compilation",
    );
    let query =
        analyze_query("diffrence permssion installnig encrption compilaion").typo_tolerant();
    let explained = index.explain(&query, SegmentFilter::Any, 0, 10);
    let corrected = explained
        .corrections
        .iter()
        .filter(|c| !c.is_empty())
        .count();
    assert_eq!(
        corrected,
        scoring::WORD_EDITS_PER_QUERY,
        "{:?}",
        explained.corrections
    );
    // One at a time, each is found.
    for word in [
        "diffrence",
        "permssion",
        "installnig",
        "encrption",
        "compilaion",
    ] {
        assert_eq!(fuzzy_ids(&index, word), ["words"], "{word}");
    }
}

#[test]
fn coverage_weighs_the_question_by_idf() {
    let mut index = TenantIndex::new();
    add(
        &mut index,
        "refunds",
        "Refunds",
        "Refunds take 5 business days.",
    );
    add(
        &mut index,
        "support",
        "Support",
        "Support is open 24 hours a day.",
    );
    add(&mut index, "both", "Support", "Refunds and support.");
    let explained = index.explain(&analyze_query("business hours"), SegmentFilter::Any, 0, 10);
    assert_eq!(explained.weights.len(), 2);
    for hit in &explained.hits {
        assert!(hit.coverage < 0.6, "{hit:?}");
    }
    // A word the corpus lacks weighs as much as the most specific word present.
    let explained = index.explain(&analyze_query("pizza refunds"), SegmentFilter::Any, 0, 10);
    assert!(
        (explained.weights[0] - explained.weights[1]).abs() < 1e-6,
        "{explained:?}"
    );
    assert!(explained.hits.iter().all(|h| h.coverage <= 0.5 + 1e-6));
    // ...and is reported: the relevance decision does not let meaning alone answer then.
    assert_eq!(explained.absent, 0b01, "{explained:?}");
    let explained = index.explain(
        &analyze_query("supprt refunds").typo_tolerant(),
        SegmentFilter::Any,
        0,
        10,
    );
    assert_eq!(
        explained.absent, 0,
        "a typo is not an absent word: {explained:?}"
    );
}

#[test]
fn a_hedge_weighs_nothing_even_where_the_corpus_says_it() {
    let mut index = TenantIndex::new();
    add(
        &mut index,
        "what-is",
        "What is Animam?",
        "A self-hosted chatbot server.",
    );
    add(
        &mut index,
        "licence",
        "Licence",
        "Animam is free software: you pay exactly nothing for it.",
    );
    for question in ["what exactly is animam?", "c'est quoi exactement animam ?"] {
        let explained = index.explain(&analyze_query(question), SegmentFilter::Any, 0, 10);
        // Rare in the corpus, "exactly" outweighed "animam", and the page that happens
        // to say it covered most of the question while the one about it did not.
        assert_eq!(explained.hits.len(), 2, "{explained:?}");
        assert!(
            explained.hits.iter().all(|h| h.coverage > 0.99),
            "{question}: {explained:?}"
        );
    }
}

#[test]
fn entries_in_the_visitors_language_rank_first() {
    let mut index = TenantIndex::new();
    add(
        &mut index,
        "en",
        "Package configuration",
        "Debian packages are configured with debconf. The configuration is asked at install.",
    );
    add(
        &mut index,
        "fr",
        "Configuration des paquets",
        "Les paquets Debian sont configurés avec debconf. La configuration est demandée.",
    );
    assert_eq!(ids(&index, "la configuration des paquets debian")[0], "fr");
    assert_eq!(ids(&index, "the configuration of debian packages")[0], "en");
}

/// Build and lookup timings of the term dictionary at the benchmark's scale
/// (`cargo test --release --lib build_timing -- --ignored --nocapture`).
#[test]
#[ignore = "timing, not a test"]
fn build_timing_100k() {
    let docs: Vec<(DocMeta, AnalyzedDoc)> = (0..100_000u64)
        .map(|d| {
            let mut seed = d.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let terms: Vec<(String, u32, bool)> = (0..115)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Zipf-like: small ids are frequent.
                    let rank = (seed % 400) * ((seed >> 24) % 400);
                    (format!("term{rank}"), 1, false)
                })
                .collect();
            (
                meta(&format!("d{d}"), None, 5, d as i64),
                AnalyzedDoc::from_parts(terms, 115),
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let index = TenantIndex::from_docs(docs);
    let built = started.elapsed();
    let started = std::time::Instant::now();
    let mut found = 0usize;
    for round in 0..20 {
        for rank in 0..50_000u64 {
            found += usize::from(index.terms.get(&format!("term{}", rank + round)).is_some());
        }
    }
    println!(
        "build {built:?}, 1M lookups {:?} ({found} found), {} terms, {} MiB",
        started.elapsed(),
        index.terms.len(),
        index.memory_bytes() >> 20
    );
}

#[test]
fn edit_distance_counts_swaps_as_one_edit() {
    use super::dict::edit_distance;
    assert_eq!(edit_distance(b"debain", b"debian", 1), Some(1));
    assert_eq!(edit_distance(b"debian", b"debian", 1), Some(0));
    assert_eq!(edit_distance(b"instaling", b"installing", 2), Some(1));
    assert_eq!(edit_distance(b"dbeain", b"debian", 1), None);
    assert_eq!(edit_distance(b"dbeain", b"debian", 2), Some(2));
    assert_eq!(edit_distance(b"abc", b"abcdef", 2), None);
    assert_eq!(
        edit_distance(&[b'a'; 80], &[b'a'; 80], 2),
        None,
        "too long to be typed"
    );
}

/// The typo and prefix lookup as first written, kept as the reference:
/// every term with the query's first byte and a length within reach,
/// compared one by one (the rule: `max_edits` edits, and words of 4+ bytes
/// completed by terms up to 6 bytes longer).
fn near_by_scan(dict: &dict::TermDict, word: &str, max_edits: u8) -> Vec<(usize, u8)> {
    use super::dict::edit_distance;
    let query = word.as_bytes();
    let mut out = Vec::new();
    let Some(&first) = query.first() else {
        return out;
    };
    let len = query.len();
    let shaped = |wanted: usize| {
        (0..dict.len()).filter(move |&id| {
            let term = dict.term(id);
            term.first() == Some(&first) && term.len() == wanted
        })
    };
    let edits = usize::from(max_edits);
    for candidate_len in len.saturating_sub(edits).max(1)..=len + edits {
        for id in shaped(candidate_len) {
            if let Some(distance) = edit_distance(query, dict.term(id), max_edits)
                && distance > 0
            {
                out.push((id, distance));
            }
        }
    }
    if len >= 4 {
        for candidate_len in len + 1..=len + 6 {
            for id in shaped(candidate_len) {
                if dict.term(id).starts_with(query) {
                    out.push((id, 0));
                }
            }
        }
    }
    out.sort_unstable();
    out
}

#[test]
fn near_finds_what_the_full_scan_finds() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    // Few letters, so that many terms are within one or two edits of each
    // other and share prefixes; "é" for multi-byte letters.
    const LETTERS: [&str; 6] = ["a", "b", "c", "d", "e", "é"];
    let random_word = |next: &mut dyn FnMut(u64) -> u64| {
        let len = match next(10) {
            0 => 55 + next(20) as usize, // around the 63-byte cap of the typo search
            _ => 1 + next(12) as usize,
        };
        (0..len)
            .map(|_| LETTERS[next(LETTERS.len() as u64) as usize])
            .collect::<String>()
    };
    let mut compared = 0;
    let mut found = 0;
    for round in 0..6 {
        let mut dict = dict::TermDict::default();
        let size = [40, 300, 700, 1500, 3000, 5000][round];
        for added in 0..size {
            let word = random_word(&mut next);
            dict.get_or_insert(&word);
            // Look up at several sizes, so that both the merged and the
            // recent terms are walked.
            if added % (size / 4).max(1) != 0 && added + 1 != size {
                continue;
            }
            if added + 1 == size && round % 2 == 1 {
                dict.shrink_to_fit();
            }
            for _ in 0..150 {
                let word = match next(3) {
                    0 => random_word(&mut next),
                    // A dictionary term with one or two edits, or cut short.
                    _ => {
                        let term = dict.term(next(dict.len() as u64) as usize).to_vec();
                        let mut word = String::from_utf8(term).unwrap_or_default();
                        for _ in 0..1 + next(2) {
                            let chars: Vec<char> = word.chars().collect();
                            if chars.len() < 2 {
                                break;
                            }
                            let at = next(chars.len() as u64 - 1) as usize;
                            let mut chars = chars;
                            match next(5) {
                                0 => chars.swap(at, at + 1),
                                1 => {
                                    chars.remove(at);
                                }
                                2 => chars.insert(at, 'b'),
                                3 => chars[at] = 'é',
                                _ => chars.truncate(at + 1),
                            }
                            word = chars.into_iter().collect();
                        }
                        word
                    }
                };
                for max_edits in 0..=3 {
                    let mut near = Vec::new();
                    dict.near(&word, max_edits, &mut near);
                    near.sort_unstable();
                    let expected = near_by_scan(&dict, &word, max_edits);
                    assert_eq!(near, expected, "{word:?} within {max_edits} edits");
                    compared += 1;
                    found += expected.len();
                }
            }
        }
    }
    // The comparison means something only if the reference finds plenty.
    assert!(found > compared, "{found} candidates in {compared} lookups");
}

#[test]
#[ignore = "timing, not a test"]
fn search_timing_100k() {
    let docs: Vec<(DocMeta, AnalyzedDoc)> = (0..100_000u64)
        .map(|d| {
            let mut seed = d.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let terms: Vec<(String, u32, bool)> = (0..115)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let rank = (seed % 400) * ((seed >> 24) % 400);
                    (format!("term{rank}"), 1, false)
                })
                .collect();
            // A dense meaning vector per entry, as imports give them: the chat compares the
            // question with them all.
            let components: Vec<(usize, f32)> = (0..DIM)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (i, (seed % 2001) as f32 / 1000.0 - 1.0)
                })
                .collect();
            let meaning = direction(&components);
            (
                meta(&format!("d{d}"), None, 5, d as i64),
                AnalyzedDoc::from_parts(terms, 115).with_meaning(Some(Packed::pack(&meaning))),
            )
        })
        .collect();
    let index = TenantIndex::from_docs(docs);
    println!(
        "{} terms, dictionary {} bytes, index {} MiB",
        index.terms.len(),
        index.terms.memory_bytes(),
        index.memory_bytes() >> 20
    );
    let singles: Vec<_> = (0..2000)
        .map(|i| analyze_query(&format!("term{}", 50 + i * 7)))
        .collect();
    let chats: Vec<_> = (0..2000)
        .map(|i| {
            analyze_query(&format!(
                "how do I term{} the term{} with term{} please",
                i * 3,
                900 + i,
                5000 + i * 11
            ))
        })
        .collect();
    // A chat question as the chat sees it: analysed, typo-tolerant and with its meaning
    // (which scans every entry's vector), analysis and embedding included in the time.
    let questions: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                "how do I fix the mistake in term{} when the term{} shows an error with term{}",
                i * 3,
                900 + i,
                5000 + i * 11
            )
        })
        .collect();
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let mut n = 0;
        for q in &singles {
            n += index.search(q, SegmentFilter::Any, 0, 20).1.len();
        }
        let single = started.elapsed();
        let started = std::time::Instant::now();
        for q in &chats {
            n += index
                .search(q, SegmentFilter::SegmentOrGlobal("x"), 0, 8)
                .1
                .len();
        }
        let chat = started.elapsed();
        let started = std::time::Instant::now();
        let mut slowest = std::time::Duration::ZERO;
        for q in &questions {
            let one = std::time::Instant::now();
            let q = analyze_query(q).typo_tolerant().with_meaning_of(q);
            n += index
                .search(&q, SegmentFilter::SegmentOrGlobal("x"), 0, 8)
                .1
                .len();
            slowest = slowest.max(one.elapsed());
        }
        println!(
            "2000 single-term searches {single:?}, 2000 chat searches {chat:?}, \
             2000 tolerant questions {:?} (slowest {slowest:?}) ({n})",
            started.elapsed()
        );
    }
}

#[test]
fn a_snapshot_reads_back_as_the_same_index_and_damage_is_refused() {
    let index = Index::new();
    let texts = [
        (
            "Refund policy",
            "Refunds are issued within 30 days.",
            Some("billing"),
        ),
        (
            "Remboursement",
            "Le remboursement est effectué sous 30 jours.",
            Some("billing"),
        ),
        ("Shipping", "Parcels leave the warehouse daily.", None),
        ("Horaires", "Ouvert du lundi au vendredi.", Some("fr")),
        ("Password reset", "Use the reset link in the email.", None),
    ];
    for round in 0..40i64 {
        for (n, (title, content, segment)) in texts.iter().enumerate() {
            let id = format!("e{round:02}{n}");
            let m = meta(&id, *segment, 5 + (n as u8 % 3), round * 10 + n as i64);
            index.upsert("acme", m, &analyze_entry(title, content, &[]));
        }
    }
    index.upsert(
        "other",
        meta("x", None, 5, 1),
        &analyze_doc("Other", "tenant", &[]),
    );
    for round in (0..40).step_by(3) {
        index.remove("acme", &format!("e{round:02}2"));
    }
    let bytes = index.snapshot();
    let loaded = Index::from_snapshot(&bytes).expect("a snapshot reads back");
    for query in [
        "refund",
        "remboursement 30 jours",
        "warehouse",
        "lundi",
        "reset email",
    ] {
        for filter in [SegmentFilter::Any, SegmentFilter::SegmentOrGlobal("fr")] {
            let q = analyze_query(query);
            assert_eq!(
                loaded.search("acme", &q, filter, 0, 50),
                index.search("acme", &q, filter, 0, 50),
                "{query}"
            );
            // The meaning vectors and their averages come back too.
            let q = q.with_meaning_of(query);
            assert!(q.meaning().is_some());
            assert_eq!(
                loaded.explain("acme", &q, filter, 0, 8),
                index.explain("acme", &q, filter, 0, 8),
                "{query}"
            );
        }
    }
    for filter in [SegmentFilter::Any, SegmentFilter::Exact("billing")] {
        assert_eq!(
            loaded.list_newest("acme", filter, 3, 20),
            index.list_newest("acme", filter, 3, 20)
        );
    }
    assert_eq!(loaded.tenant_len("other"), 1);
    assert_eq!(
        loaded.snapshot(),
        bytes,
        "a loaded snapshot writes the same bytes"
    );
    // Still a working index: updates after loading behave.
    loaded.upsert(
        "acme",
        meta("new", None, 5, 9_999),
        &analyze_doc("Gift cards", "", &[]),
    );
    assert_eq!(
        loaded
            .search("acme", &analyze_query("gift"), SegmentFilter::Any, 0, 5)
            .0,
        1
    );

    assert!(Index::from_snapshot(&bytes[..bytes.len() - 1]).is_none());
    assert!(Index::from_snapshot(&[]).is_none());
    for at in [0, 9, bytes.len() / 2, bytes.len() - 5] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x40;
        assert!(Index::from_snapshot(&damaged).is_none(), "byte {at}");
    }
}

/// A unit vector with these components.
fn direction(components: &[(usize, f32)]) -> Vector {
    let mut v = [0.0; DIM];
    for &(i, w) in components {
        v[i] = w;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.map(|x| x / norm)
}

/// A document of one word with a meaning vector.
fn meant(word: &str, meaning: Vector) -> AnalyzedDoc {
    AnalyzedDoc::from_parts([(word, 1, false)], 1).with_meaning(Some(Packed::pack(&meaning)))
}

fn one_word_question(word: &str) -> Query {
    Query::from_terms(vec![QueryTerm::new(vec![word.to_owned()], false, 0)], None)
}

fn similarities(explained: &Explained) -> Vec<(String, f32)> {
    let mut found: Vec<(String, f32)> = explained
        .hits
        .iter()
        .map(|h| (h.id.clone(), h.similarity.unwrap_or(f32::NAN)))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[test]
fn entries_close_in_meaning_join_the_hits_measured_against_the_average() {
    let mut index = TenantIndex::new();
    for n in 0..4 {
        let doc = meant(&format!("word{n}"), direction(&[(n, 1.0)]));
        index.upsert(meta(&format!("d{n}"), None, 5, n as i64), &doc);
    }
    let words_only = one_word_question("word0");
    let explained = index.explain(&words_only, SegmentFilter::Any, 0, 8);
    assert_eq!(explained.hits.len(), 1);
    assert_eq!(
        explained.hits[0].similarity, None,
        "a question without meaning"
    );

    // About d3, in words about d0: d3 joins the hits for its meaning alone. Each entry is
    // compared with the average of the three others: d3 stands 1 above theirs (none is about
    // the question), each other entry a third below (d3 is among theirs).
    let question = words_only.with_meaning(direction(&[(3, 1.0)]));
    let explained = index.explain(&question, SegmentFilter::Any, 0, 8);
    assert_eq!(
        explained.total, 1,
        "the count is of entries holding the words"
    );
    assert_eq!(explained.hits[0].id, "d0", "the lexical hits come first");
    let found = similarities(&explained);
    assert_eq!(found.len(), 4);
    for (id, similarity) in &found {
        let expected = if id == "d3" { 1.0 } else { -1.0 / 3.0 };
        assert!((similarity - expected).abs() < 0.01, "{id}: {similarity}");
    }
    let d3 = explained.hits.iter().find(|h| h.id == "d3");
    assert!(d3.is_some_and(|h| h.score == 0.0 && h.matched == 0 && h.coverage == 0.0));

    // The segment filter applies to entries found by meaning too.
    index.upsert(
        meta("seg", Some("vip"), 5, 10),
        &meant("other", direction(&[(3, 1.0)])),
    );
    let explained = index.explain(&question, SegmentFilter::Exact("nothing"), 0, 8);
    assert!(explained.hits.is_empty());
}

#[test]
fn the_average_meaning_follows_updates_removals_and_compaction() {
    let docs: Vec<(String, AnalyzedDoc)> = (0..12)
        .map(|n| {
            let meaning = direction(&[(n % 5, 1.0), (5 + n % 3, 0.5)]);
            (format!("d{n:02}"), meant(&format!("word{n}"), meaning))
        })
        .collect();
    // d05 is updated to this: its old vector must leave the average.
    let updated = meant("word5", direction(&[(9, 1.0)]));
    // Distinct weights on every axis used, so no two entries tie at the cut.
    let axes = [0.9, 1.0, 0.7, 0.5, 0.3, 0.2, 0.4, 0.6, 0.0, 0.15];
    let axes: Vec<(usize, f32)> = axes.into_iter().enumerate().collect();
    let question = one_word_question("word1").with_meaning(direction(&axes));
    let check = |index: &TenantIndex| {
        let mut rebuilt = TenantIndex::new();
        for (n, (id, doc)) in docs.iter().enumerate() {
            if index.contains(id) {
                let doc = if id == "d05" { &updated } else { doc };
                rebuilt.upsert(meta(id, None, 5, n as i64), doc);
            }
        }
        let got = similarities(&index.explain(&question, SegmentFilter::Any, 0, 20));
        let want = similarities(&rebuilt.explain(&question, SegmentFilter::Any, 0, 20));
        let ids = |found: &[(String, f32)]| found.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&got), ids(&want));
        for ((id, a), (_, b)) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4, "{id}: {a} vs {b}");
        }
    };
    // Small: compacted on every removal. Big: tombstones stay until a later compaction.
    for mut index in [TenantIndex::new(), big_index(2_000)] {
        for (n, (id, doc)) in docs.iter().enumerate() {
            index.upsert(meta(id, None, 5, n as i64), doc);
        }
        index.remove("d03");
        index.remove("d07");
        index.upsert(meta("d05", None, 5, 5), &updated);
        let explained = index.explain(&question, SegmentFilter::Any, 0, 20);
        assert!(
            !explained
                .hits
                .iter()
                .any(|h| h.id == "d03" || h.id == "d07")
        );
        check(&index);
        index.compact();
        check(&index);
    }
}

#[test]
fn a_question_finds_the_entry_it_means_with_no_word_in_common() {
    let shop = [
        (
            "hours",
            "Opening hours",
            "The shop opens at 9am on weekdays.",
        ),
        (
            "refunds",
            "Refund policy",
            "Refunds take 5 business days after we receive the item.",
        ),
        (
            "shipping",
            "Shipping",
            "Orders are delivered within 3 days by our courier.",
        ),
        (
            "support",
            "Customer support",
            "Our chat support is available 24 hours a day.",
        ),
        ("partners", "Partners", "We belong to a retail consortium."),
    ];
    let mut index = TenantIndex::new();
    for (n, (id, title, content)) in shop.iter().enumerate() {
        index.upsert(
            meta(id, None, 5, n as i64),
            &analyze_entry(title, content, &[]),
        );
    }
    let text = "How do I get my money back?";
    let question = analyze_query(text).typo_tolerant().with_meaning_of(text);
    let explained = index.explain(&question, SegmentFilter::Any, 0, 8);
    assert_eq!(explained.total, 0, "no entry holds its words");
    let mut by_meaning = explained.hits.clone();
    let similarity = |h: &Hit| h.similarity.unwrap_or(f32::NEG_INFINITY);
    by_meaning.sort_by(|a, b| similarity(b).total_cmp(&similarity(a)));
    assert_eq!(by_meaning[0].id, "refunds", "{by_meaning:?}");
    assert!(
        similarity(&by_meaning[0]) > similarity(&by_meaning[1]) + 0.2,
        "{by_meaning:?}"
    );
}
