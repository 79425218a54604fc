//! `evaluate_math500_stream` with a batch of problems decoded at once writes
//! exactly the records of the one-by-one run (but for `seconds`), in dataset
//! order, and resumes a partial log to the same final log. Checked on a tiny
//! bf16 model (with a byte-level tokenizer made here) and on the default model.

use std::path::{Path, PathBuf};

use ch03::records::read_records_repairing;
use ch03::{
    arith_test_problems, evaluate_math500_stream, EvalConfig, EvalRecord, Problem, PromptStyle,
};
use shared::fixtures::{default_model, fixture};
use shared::generate::generate_text_basic_cache;
use shared::loader::{load_hf_model, load_model_files, LoadedModel, PromptMode};
use shared::tokenizer::{
    byte_to_char, Entry, Normalizer, PreTokenizer, Spec, TokenKind, Tokenizer,
};

/// A fresh empty folder under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rfs-ch03-batch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A byte-level tokenizer for the tiny models' 512 ids: the 256 bytes, then
/// every pair of the characters `0-9+-*/ x` (so answers hold numbers).
fn tiny_tokenizer() -> Tokenizer {
    let chars = b"0123456789+-*/ x";
    let bytes = (0..=255u8).map(|b| byte_to_char(b).to_string());
    let pairs = chars.iter().flat_map(|&a| {
        chars
            .iter()
            .map(move |&b| format!("{}{}", byte_to_char(a), byte_to_char(b)))
    });
    let entries = bytes
        .chain(pairs)
        .enumerate()
        .map(|(id, text)| Entry {
            text,
            id: id as u32,
            kind: TokenKind::Normal,
        })
        .collect();
    Tokenizer::from_spec(Spec {
        source: "tiny-bytes".into(),
        entries,
        merges: Vec::new(),
        normalizer: Normalizer::None,
        pre_tokenizer: PreTokenizer::Gpt2,
        ignore_merges: false,
        unk_id: None,
        bos_id: None,
        eos_id: None,
    })
    .unwrap()
}

/// A tiny bf16 model (exact batched rows) with [`tiny_tokenizer`].
fn tiny_loaded(family: &str) -> Option<LoadedModel> {
    let dir = fixture(&format!("tiny/{family}/bf16"))?;
    Some(LoadedModel {
        model: load_hf_model(&dir).unwrap(),
        tokenizer: Some(tiny_tokenizer()),
        chat_template: None,
        location: dir,
        load_s: 0.0,
        quantized: None,
    })
}

/// Seven problems of different lengths; with the tiny tokenizer (one token a
/// byte) the fourth fills the tiny models' 256-position context.
fn tiny_problems() -> Vec<Problem> {
    let question = |text: &str, answer: &str| Problem {
        problem: text.into(),
        solution: String::new(),
        answer: answer.into(),
        subject: "Arithmetic".into(),
        level: Some(1),
        unique_id: String::new(),
    };
    vec![
        question("1+1?", "2"),
        question("What is 12 times 12?", "144"),
        question("7", "7"),
        question(
            &"Add up the following numbers: 1 2 3 4 5 6 7 8 9 10 11 ".repeat(2),
            "132",
        ),
        question("Half of 90?", "45"),
        question("What is 3 to the power 4, minus 1?", "80"),
        question("10/2", "5"),
    ]
}

/// Makes one more token end every answer: the token that splits the answers
/// most evenly into ones that contain it and ones that do not, so some
/// answers stop early and others run to `max_new_tokens`.
fn add_splitting_stop_id(loaded: &mut LoadedModel, problems: &[Problem], config: &EvalConfig) {
    let answers: Vec<Vec<u32>> = problems
        .iter()
        .map(|p| {
            let prompt = loaded
                .encode_prompt_as(&config.prompt.render(&p.problem), config.prompt_mode)
                .unwrap();
            let stop = loaded.stop_ids();
            generate_text_basic_cache(
                &loaded.model,
                &prompt,
                config.max_new_tokens,
                &stop,
                &mut |_| {},
            )
            .unwrap()
            .ids
        })
        .collect();
    let mut tokens: Vec<u32> = answers.concat();
    tokens.sort_unstable();
    tokens.dedup();
    let split = |t: &u32| {
        let hits = answers.iter().filter(|a| a.contains(t)).count();
        hits.min(answers.len() - hits)
    };
    let stop = tokens
        .iter()
        .copied()
        .max_by_key(|t| (split(t), std::cmp::Reverse(*t)))
        .expect("the answers have tokens");
    loaded.model.config.eos_token_ids.push(stop);
}

/// Runs the evaluation into a new log at `out`; returns the records and the
/// indices `on_record` saw, in order.
fn run(
    loaded: &LoadedModel,
    problems: &[Problem],
    config: &EvalConfig,
    batch: usize,
    out: &Path,
    resume: bool,
) -> (Vec<EvalRecord>, Vec<usize>) {
    let mut seen = Vec::new();
    let records = evaluate_math500_stream(loaded, problems, config, batch, out, resume, &mut |r| {
        seen.push(r.index)
    })
    .unwrap();
    (records, seen)
}

/// The records with `seconds` zeroed: what must not depend on the batch.
fn without_seconds(records: &[EvalRecord]) -> Vec<EvalRecord> {
    records
        .iter()
        .map(|r| EvalRecord {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

/// `--batch 4` and `--batch 3` (slots refilled) against `--batch 1`: the same
/// records, and each log holds them in dataset order.
fn check_batches_match(
    name: &str,
    loaded: &LoadedModel,
    problems: &[Problem],
    config: &EvalConfig,
) {
    let dir = temp_dir(name);
    let log = |batch: usize| dir.join(format!("batch{batch}.jsonl"));
    let (one_by_one, _) = run(loaded, problems, config, 1, &log(1), false);
    let max = config.max_new_tokens;
    let early = one_by_one.iter().filter(|r| r.tokens < max).count();
    assert!(early > 0, "{name}: no answer stops before max-new-tokens");
    assert!(
        early < problems.len(),
        "{name}: no answer reaches max-new-tokens"
    );
    for batch in [4, 3] {
        let (records, seen) = run(loaded, problems, config, batch, &log(batch), false);
        assert_eq!(
            without_seconds(&records),
            without_seconds(&one_by_one),
            "{name}: --batch {batch} changed the records"
        );
        let expected: Vec<usize> = (1..=problems.len()).collect();
        assert_eq!(seen, expected, "{name}: records reported out of order");
        let logged: Vec<EvalRecord> = read_records_repairing(&log(batch)).unwrap();
        // (serde_json may read a float back one ulp off: compare without `seconds`.)
        assert_eq!(
            without_seconds(&logged),
            without_seconds(&records),
            "{name}: the log differs from the records"
        );
    }
}

#[test]
fn batched_records_equal_one_by_one_on_the_tiny_models() {
    for family in ["qwen3-tiny", "llama-tiny"] {
        let Some(mut loaded) = tiny_loaded(family) else {
            return;
        };
        let problems = tiny_problems();
        let config = EvalConfig {
            prompt: PromptStyle::Plain,
            prompt_mode: PromptMode {
                chat: false,
                thinking: None,
            },
            max_new_tokens: 24,
        };
        add_splitting_stop_id(&mut loaded, &problems, &config);
        check_batches_match(family, &loaded, &problems, &config);
    }
}

#[test]
fn batched_records_equal_one_by_one_on_the_default_model() {
    let Some(files) = default_model() else {
        return;
    };
    let mut loaded = load_model_files(&files).unwrap();
    let problems = arith_test_problems(7, 0, "1-5").unwrap();
    let config = EvalConfig {
        prompt: PromptStyle::Cot,
        prompt_mode: PromptMode {
            chat: true,
            thinking: None,
        },
        max_new_tokens: 20,
    };
    add_splitting_stop_id(&mut loaded, &problems, &config);
    check_batches_match("smollm2", &loaded, &problems, &config);
}

#[test]
fn a_batched_run_resumes_a_partial_log_to_the_same_log() {
    let Some(mut loaded) = tiny_loaded("qwen3-tiny") else {
        return;
    };
    let problems = tiny_problems();
    let config = EvalConfig {
        prompt: PromptStyle::Plain,
        prompt_mode: PromptMode {
            chat: false,
            thinking: None,
        },
        max_new_tokens: 24,
    };
    add_splitting_stop_id(&mut loaded, &problems, &config);
    let dir = temp_dir("resume");
    let (full, _) = run(
        &loaded,
        &problems,
        &config,
        3,
        &dir.join("full.jsonl"),
        false,
    );
    // A run killed after two records, in the middle of writing the third.
    let text = std::fs::read_to_string(dir.join("full.jsonl")).unwrap();
    let kept: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    let log = dir.join("partial.jsonl");
    std::fs::write(&log, format!("{kept}{{\"index\": 3, \"prob")).unwrap();
    let (resumed, seen) = run(&loaded, &problems, &config, 3, &log, true);
    assert_eq!(seen, (1..=problems.len()).collect::<Vec<_>>());
    assert_eq!(without_seconds(&resumed), without_seconds(&full));
    let resumed_text = std::fs::read_to_string(&log).unwrap();
    assert!(resumed_text.starts_with(&kept), "the kept lines changed");
    let logged: Vec<EvalRecord> = read_records_repairing(&log).unwrap();
    assert_eq!(without_seconds(&logged), without_seconds(&full));
}

#[test]
fn a_batch_of_zero_is_refused_before_the_log_is_made() {
    let Some(loaded) = tiny_loaded("llama-tiny") else {
        return;
    };
    let config = EvalConfig {
        prompt: PromptStyle::Plain,
        prompt_mode: PromptMode {
            chat: false,
            thinking: None,
        },
        max_new_tokens: 4,
    };
    let out = temp_dir("zero").join("log.jsonl");
    let err = evaluate_math500_stream(
        &loaded,
        &tiny_problems(),
        &config,
        0,
        &out,
        false,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("--batch 0"), "{err}");
    assert!(!out.exists(), "a refused run must not create its log");
}
