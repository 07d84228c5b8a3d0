use std::time::Instant;

use super::model::{Model, ModelError};
use super::*;

/// Each line: the text as a JSON string, HF `tokenizers` ids, and the float (unquantised)
/// Python reference embedding; written by `src/search/semantic/wordllama_model.py --fixture`.
const FIXTURE: &str = include_str!("fixture.tsv");

struct Case {
    text: String,
    ids: Vec<u16>,
    reference: Option<Vector>,
}

fn fixture() -> Vec<Case> {
    FIXTURE
        .lines()
        .map(|line| {
            let [text, ids, floats]: [&str; 3] =
                line.split('\t').collect::<Vec<_>>().try_into().unwrap();
            let reference: Vec<f32> = floats.split(' ').filter_map(|x| x.parse().ok()).collect();
            Case {
                text: serde_json::from_str(text).unwrap(),
                ids: ids.split(' ').filter_map(|x| x.parse().ok()).collect(),
                reference: reference.try_into().ok(),
            }
        })
        .collect()
}

fn token_ids(text: &str) -> Vec<u16> {
    let mut ids = Vec::new();
    tokenizer::for_each_token(model().unwrap(), text, |id| ids.push(id));
    ids
}

fn cosine(a: &Vector, b: &Vector) -> f32 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

#[test]
fn the_embedded_model_parses() {
    assert!(Model::parse(MODEL_BYTES).is_ok());
}

#[test]
fn a_corrupt_model_is_an_error_not_a_panic() {
    assert_eq!(
        Model::parse(&MODEL_BYTES[..1000]).err(),
        Some(ModelError::Truncated)
    );
    assert_eq!(
        Model::parse(&MODEL_BYTES[..3]).err(),
        Some(ModelError::Truncated)
    );
    let mut renamed = MODEL_BYTES[..64].to_vec();
    renamed[0] = b'X';
    assert_eq!(Model::parse(&renamed).err(), Some(ModelError::BadMagic));
    let mut padded = MODEL_BYTES.to_vec();
    padded.push(0);
    assert_eq!(
        Model::parse(&padded).err(),
        Some(ModelError::TrailingBytes(1))
    );
}

#[test]
fn token_ids_equal_hf_tokenizers() {
    let cases = fixture();
    assert!(cases.len() >= 40);
    // Twice: the second pass is served by the word cache.
    for _ in 0..2 {
        for case in &cases {
            assert_eq!(token_ids(&case.text), case.ids, "{:?}", case.text);
        }
    }
}

#[test]
fn embeddings_match_the_python_reference() {
    for case in fixture() {
        match (embed(&case.text), case.reference) {
            (Some(ours), Some(reference)) => {
                let similarity = cosine(&ours, &reference);
                assert!(similarity >= 0.999, "{:?}: cosine {similarity}", case.text);
                assert!((dot(&ours, &ours) - 1.0).abs() < 1e-5);
            }
            (None, None) => {}
            (ours, reference) => panic!("{:?}: {ours:?} vs {reference:?}", case.text),
        }
    }
}

#[test]
fn text_without_tokens_has_no_embedding() {
    assert_eq!(embed(""), None);
    assert!(embed(" ").is_some(), "a space is the token \"▁▁\"");
}

#[test]
fn a_long_unspaced_text_embeds_quickly() {
    // One 160,000-character word: BPE is quadratic in a word's length, ~10^10 steps uncut.
    let started = Instant::now();
    assert!(embed(&"日本語のテキスト".repeat(20_000)).is_some());
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn paraphrases_are_closer_than_unrelated_texts() {
    // Measured with the Python reference: (related, unrelated) cosines
    // 0.678/-0.021, 0.302/-0.052 and 0.541/-0.002.
    let triples = [
        (
            "How do I install a package?",
            "Installing software packages with apt",
            "Recipes for chocolate cake",
        ),
        (
            "How do I reset my password?",
            "Recovering access to your account",
            "The history of the Roman empire",
        ),
        (
            "What are your opening hours?",
            "We are open Monday to Friday from 9am to 5pm",
            "Our cats love to sleep",
        ),
    ];
    for (query, related, unrelated) in triples {
        let [q, r, u] = [query, related, unrelated].map(|t| embed(t).unwrap());
        assert!(
            dot(&q, &r) > dot(&q, &u) + 0.2,
            "{query}: {} vs {}",
            dot(&q, &r),
            dot(&q, &u)
        );
    }
}

#[test]
fn packed_round_trips_through_bytes() {
    let v = embed("The quick brown fox jumps over the lazy dog.").unwrap();
    let packed = Packed::pack(&v);
    let mut bytes = vec![0xAA];
    packed.write(&mut bytes);
    assert_eq!(bytes.len(), 1 + Packed::BYTES);
    assert_eq!(Packed::read(&bytes[1..]), Some(packed));
    let unpacked = packed.unpack();
    assert!(
        v.iter()
            .zip(&unpacked)
            .all(|(a, b)| (a - b).abs() <= packed.scale / 2.0 + 1e-7)
    );
}

#[test]
fn packed_dot_is_close_to_the_float_dot() {
    let query = embed("how do i log out of the shell").unwrap();
    for case in fixture().iter().filter(|c| !c.text.is_empty()) {
        let v = embed(&case.text).unwrap().map(|x| x * 3.0);
        let packed = Packed::pack(&v);
        assert!(
            (packed.dot(&query) - dot(&v, &query)).abs() < 1e-2,
            "{:?}",
            case.text
        );
        // Both sides quantised, as the index compares them.
        assert!(
            (packed.dot_packed(&Packed::pack(&query)) - dot(&v, &query)).abs() < 2e-2,
            "{:?}",
            case.text
        );
    }
    assert!(Packed::ZERO.is_zero() && !Packed::pack(&query).is_zero());
    assert_eq!(Packed::ZERO.dot_packed(&Packed::pack(&query)), 0.0);
}

#[test]
fn packing_zero_or_non_finite_gives_zero() {
    let zero = Packed::pack(&[0.0; DIM]);
    assert_eq!(zero.unpack(), [0.0; DIM]);
    let mut nan = [0.5; DIM];
    nan[3] = f32::NAN;
    assert_eq!(Packed::pack(&nan), zero);
}

#[test]
fn read_rejects_wrong_lengths_and_non_finite_scales() {
    let mut bytes = Vec::new();
    Packed::pack(&[0.25; DIM]).write(&mut bytes);
    assert!(Packed::read(&bytes).is_some());
    assert_eq!(Packed::read(&bytes[..Packed::BYTES - 1]), None);
    assert_eq!(Packed::read(&[]), None);
    bytes.push(0);
    assert_eq!(Packed::read(&bytes), None);
    let mut nan_scale = vec![0; Packed::BYTES];
    nan_scale[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(Packed::read(&nan_scale), None);
}

const PROSE: &str = "The library opens at nine in the morning and closes at six in the evening, \
except on Sundays, when it stays closed all day. Members can borrow up to ten books at a time \
for three weeks, and renew them online twice unless another reader has reserved them. Visitors \
without a card may read on site and use the computers for one hour a day after showing an \
identity document at the front desk. Printing costs ten cents a page in black and white and \
fifty cents in colour; the machines accept coins and the prepaid card sold at the entrance. \
Children under twelve must be accompanied by an adult after four in the afternoon. Quiet rooms \
on the second floor can be booked by students for group work, for at most two hours, through \
the website or by phone. Lost items are kept for a month at the reception and then given to \
charity. Food is not allowed in the reading rooms, but water in a closed bottle is tolerated. \
The café on the ground floor serves hot drinks and sandwiches until five o'clock every day. \
During the summer holidays the opening hours are shorter, and the building closes for two weeks \
in August for cleaning and repairs; returns can still be dropped in the box by the main door. \
Thank you for your visit.";

/// µs per call of `f`, averaged over enough calls to take about half a second.
fn micros_per_call(mut f: impl FnMut()) -> f64 {
    f();
    let calls = 2_000;
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
}

/// Each fresh thread has an empty word cache, so this is the cost of a first encounter:
/// (fastest, slowest) of a few threads, the slowest paying the first thread's one-off costs.
fn cold_micros(text: &'static str) -> (f64, f64) {
    let samples: Vec<f64> = (0..5)
        .map(|_| {
            std::thread::spawn(move || {
                let start = Instant::now();
                embed(text);
                start.elapsed().as_secs_f64() * 1e6
            })
            .join()
            .unwrap()
        })
        .collect();
    let fastest = samples.iter().copied().fold(f64::MAX, f64::min);
    let slowest = samples.iter().copied().fold(0.0, f64::max);
    (fastest, slowest)
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn semantic_timing() {
    let question = "How do I change the language of the chatbot widget?";
    assert!(PROSE.len() >= 1_200 && PROSE.is_char_boundary(1_200));
    assert_eq!(question.split(' ').count(), 10);
    embed("warm up the model");
    for (name, text) in [
        ("1,200-char prose", &PROSE[..1_200]),
        ("10-word question", question),
    ] {
        let warm = micros_per_call(|| {
            embed(text);
        });
        let (cold, first) = cold_micros(text);
        println!("{name}: {warm:.1} µs warm cache, {cold:.1} µs cold ({first:.1} µs worst)");
    }
    let query = embed(question).unwrap();
    let stored = Packed::pack(&embed(&PROSE[..1_200]).unwrap());
    let mut total = 0.0;
    let nanos = micros_per_call(|| total += std::hint::black_box(stored).dot(&query)) * 1e3;
    println!("Packed::dot: {nanos:.1} ns (sum {total:.1})");
    let question = Packed::pack(&query);
    let nanos =
        micros_per_call(|| total += std::hint::black_box(stored).dot_packed(&question)) * 1e3;
    println!("Packed::dot_packed: {nanos:.1} ns (sum {total:.1})");
    let started = Instant::now();
    Model::parse(MODEL_BYTES).unwrap();
    println!(
        "model parse: {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
}
