//! `generate_greedy_batch` gives every prompt exactly the answer that
//! `generate_text_basic_cache` gives it alone: prompts of different lengths,
//! with and without a common start (prefilled once), answers that end at a
//! stop id, at `max_new_tokens` and at the context, and more prompts than
//! slots (freed slots take the next prompt).

use shared::fixtures::fixture;
use shared::generate::{generate_greedy_batch, generate_text_basic_cache, Generation, StopReason};
use shared::loader::load_hf_model;
use shared::model::Model;

/// New tokens per answer.
const MAX_NEW: usize = 12;

/// Seven prompts of different lengths (ids below the tiny vocabulary), each
/// `start` followed by its own tokens (as many as `own`, but the fourth is so
/// long that its answer reaches the end of the context first).
fn prompts(model: &Model, start: &[u32], own: [usize; 6]) -> Vec<Vec<u32>> {
    let vocab = model.config.vocab_size as u32;
    let long = model.config.max_position_embeddings - 5 - start.len();
    let lengths = [own[0], own[1], own[2], long, own[3], own[4], own[5]];
    lengths
        .iter()
        .enumerate()
        .map(|(p, &len)| {
            let own = (0..len as u32).map(|t| (11 + 37 * p as u32 + 29 * t) % vocab);
            start.iter().copied().chain(own).collect()
        })
        .collect()
}

/// The prompt sets: no common start; a common start; a prompt that is all
/// common start (the others' first tokens), so the shared prefix stops short of it.
fn prompt_sets(model: &Model) -> Vec<Vec<Vec<u32>>> {
    vec![
        prompts(model, &[], [3, 9, 1, 14, 5, 2]),
        prompts(model, &[7, 8, 9, 10, 11], [3, 9, 1, 14, 5, 2]),
        prompts(model, &[7, 8, 9], [3, 9, 0, 14, 5, 2]),
    ]
}

/// Each prompt's answer decoded alone, the reference.
fn alone(model: &Model, prompts: &[Vec<u32>], stop_ids: &[u32]) -> Vec<Generation> {
    prompts
        .iter()
        .map(|p| generate_text_basic_cache(model, p, MAX_NEW, stop_ids, &mut |_| {}).unwrap())
        .collect()
}

/// A stop id that ends some answers early but not all: the token that splits
/// the unstopped answers most evenly (answers that contain it vs not), among
/// those that leave the answers ending at the context as they are.
fn splitting_stop_id(answers: &[Generation]) -> u32 {
    let mut tokens: Vec<u32> = answers.iter().flat_map(|g| g.ids.clone()).collect();
    tokens.sort_unstable();
    tokens.dedup();
    tokens.retain(|t| {
        answers
            .iter()
            .all(|g| g.stop != StopReason::ContextFull || !g.ids.contains(t))
    });
    let split = |t: &u32| {
        let hits = answers.iter().filter(|g| g.ids.contains(t)).count();
        hits.min(answers.len() - hits)
    };
    tokens
        .iter()
        .copied()
        .max_by_key(|t| (split(t), std::cmp::Reverse(*t)))
        .expect("the answers have tokens")
}

/// The batched answers (in prompt order) and the order the prompts finished in.
fn batched(
    model: &Model,
    prompts: &[Vec<u32>],
    batch: usize,
    stop_ids: &[u32],
) -> (Vec<Generation>, Vec<usize>) {
    let mut answers: Vec<Option<Generation>> = vec![None; prompts.len()];
    let mut order = Vec::new();
    generate_greedy_batch(
        model,
        prompts,
        batch,
        MAX_NEW,
        stop_ids,
        &mut |i, generation| {
            assert!(answers[i].is_none(), "prompt {i} answered twice");
            answers[i] = Some(generation);
            order.push(i);
            Ok(())
        },
    )
    .unwrap();
    let answers = answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| a.unwrap_or_else(|| panic!("prompt {i} never answered")))
        .collect();
    (answers, order)
}

#[test]
fn batched_answers_equal_answers_decoded_alone_on_the_tiny_models() {
    for family in [
        "qwen3-tiny",
        "qwen3-tiny-untied",
        "qwen2-tiny",
        "llama-tiny",
    ] {
        let Some(dir) = fixture(&format!("tiny/{family}/bf16")) else {
            return;
        };
        let model = load_hf_model(&dir).unwrap();
        assert!(
            model.batched_rows_are_exact(),
            "{family}: bf16 rows are exact"
        );
        for (set, prompts) in prompt_sets(&model).iter().enumerate() {
            check_against_alone(&model, prompts, &format!("{family} set {set}"));
        }
    }
}

/// Every batch size gives each prompt its answer decoded alone, with a stop id
/// that ends some answers early; some answers finish before earlier prompts'.
fn check_against_alone(model: &Model, prompts: &[Vec<u32>], name: &str) {
    let stop = [splitting_stop_id(&alone(model, prompts, &[]))];
    let reference = alone(model, prompts, &stop);
    let stops: Vec<StopReason> = reference.iter().map(|g| g.stop).collect();
    for reason in [
        StopReason::StopToken,
        StopReason::MaxNewTokens,
        StopReason::ContextFull,
    ] {
        assert!(
            stops.contains(&reason),
            "{name}: no answer ends by {reason:?}: {stops:?}"
        );
    }
    let mut out_of_order = false;
    for batch in [1, 2, 3, 4, 8] {
        let (answers, order) = batched(model, prompts, batch, &stop);
        for (i, (a, b)) in reference.iter().zip(&answers).enumerate() {
            assert_eq!(a.ids, b.ids, "{name} batch {batch}: prompt {i}");
            assert_eq!(a.stop, b.stop, "{name} batch {batch}: prompt {i}");
            assert_eq!(a.stats.prompt_tokens, b.stats.prompt_tokens);
            assert_eq!(a.stats.new_tokens, b.stats.new_tokens);
        }
        out_of_order |= order.windows(2).any(|w| w[0] > w[1]);
    }
    assert!(out_of_order, "{name}: every batch finished in prompt order");
}

#[test]
fn zero_tokens_no_prompts_and_bad_input() {
    let Some(dir) = fixture("tiny/llama-tiny/bf16") else {
        return;
    };
    let model = load_hf_model(&dir).unwrap();
    let prompts = [vec![1, 2], vec![3]];
    let (answers, _) = batched(&model, &prompts, 2, &[]);
    assert_eq!(answers[0].ids.len(), MAX_NEW);
    let mut count = 0;
    generate_greedy_batch(&model, &prompts, 1, 0, &[], &mut |_, g| {
        assert!(g.ids.is_empty() && g.stop == StopReason::MaxNewTokens);
        count += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 2, "a zero budget still answers every prompt");
    generate_greedy_batch(&model, &[], 4, 8, &[], &mut |_, _| panic!("no prompts")).unwrap();
    let never = &mut |_: usize, _: Generation| panic!("nothing may be decoded");
    let err = generate_greedy_batch(&model, &prompts, 0, 8, &[], never).unwrap_err();
    assert!(err.to_string().contains("batch size 0"), "{err}");
    // A bad prompt anywhere is refused before any answer is decoded.
    let bad = [vec![1, 2], vec![]];
    assert!(generate_greedy_batch(&model, &bad, 2, 8, &[], never).is_err());
    let outside = [vec![1, 2], vec![model.config.vocab_size as u32]];
    let err = generate_greedy_batch(&model, &outside, 2, 8, &[], never).unwrap_err();
    assert!(err.to_string().contains("vocabulary"), "{err}");
}

#[test]
fn an_error_from_the_callback_stops_the_batch() {
    let Some(dir) = fixture("tiny/qwen3-tiny/bf16") else {
        return;
    };
    let model = load_hf_model(&dir).unwrap();
    let prompts = vec![vec![5, 6, 7]; 5];
    let mut calls = 0;
    let err = generate_greedy_batch(&model, &prompts, 2, 4, &[], &mut |_, _| {
        calls += 1;
        Err(shared::Error::InvalidArgument("disk full".into()))
    })
    .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(calls, 1);
}

#[test]
fn f32_matrices_are_not_row_exact() {
    let Some(dir) = fixture("tiny/qwen3-tiny") else {
        return;
    };
    assert!(!load_hf_model(&dir).unwrap().batched_rows_are_exact());
}
