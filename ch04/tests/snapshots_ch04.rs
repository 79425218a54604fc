//! Snapshots with fixed seeds on the default model: the temperature and top-p
//! filtered distributions, sampled continuations, and one self-consistency
//! vote. `cargo insta test -p ch04` shows how a change to a chapter function
//! changes them.

use ch03::{extract_final_candidate, Fallback, PromptStyle};
use ch04::batched::{sample_batched, SampleOptions};
use ch04::report::{format_distribution_chart, token_label, top_tokens};
use ch04::sampling::{Sampler, SamplingConfig};
use ch04::self_consistency::{self_consistency_vote, SampleScores, TieBreak, VoteRule};
use shared::fixtures::default_model;
use shared::loader::{load_model_files, LoadedModel};

fn load() -> Option<LoadedModel> {
    Some(load_model_files(&default_model()?).unwrap())
}

#[test]
fn filtered_distributions() {
    let Some(loaded) = load() else {
        return;
    };
    let tokenizer = loaded.tokenizer().unwrap();
    let ids = loaded
        .encode_prompt("The capital of Germany is", false)
        .unwrap();
    let logits = loaded.model.forward(&ids).unwrap();
    let last = logits.row(logits.nrows() - 1).to_vec();
    let mut out = String::new();
    for (temperature, top_k, top_p) in [
        (0.5, 0, 1.0),
        (1.0, 0, 1.0),
        (5.0, 0, 1.0),
        (1.0, 0, 0.9),
        (1.0, 3, 1.0),
    ] {
        let config = SamplingConfig {
            temperature,
            top_k,
            top_p,
        };
        let mut sampler = Sampler::new(config, 0).unwrap();
        let probs = sampler.next_token_distribution(&last);
        let kept = probs.iter().filter(|&&p| p > 0.0).count();
        let rows: Vec<(String, f32)> = top_tokens(probs, 5)
            .into_iter()
            .map(|(id, p)| (token_label(&tokenizer.decode(&[id])), p))
            .collect();
        out.push_str(&format!(
            "T = {temperature}, top-k = {top_k}, top-p = {top_p} ({kept} tokens kept)\n{}\n",
            format_distribution_chart(&rows, 30)
        ));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn sampled_continuations_seed_0() {
    let Some(loaded) = load() else {
        return;
    };
    let tokenizer = loaded.tokenizer().unwrap();
    let prompt = loaded
        .encode_prompt("Write one sentence about the sea.", true)
        .unwrap();
    let opts = SampleOptions {
        max_new_tokens: 24,
        stop_ids: loaded.stop_ids(),
        sampling: SamplingConfig {
            temperature: 0.8,
            top_k: 0,
            top_p: 0.9,
        },
        seed: 0,
    };
    let mut out = String::new();
    for (i, s) in sample_batched(&loaded.model, &prompt, 3, &opts)
        .unwrap()
        .iter()
        .enumerate()
    {
        out.push_str(&format!(
            "--- sample {} ({} tokens, avg log-prob {:.3}) ---\n{}\n",
            i + 1,
            s.generation.ids.len(),
            s.avg_logprob,
            tokenizer.decode(&s.generation.ids)
        ));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn self_consistency_vote_seed_0() {
    let Some(loaded) = load() else {
        return;
    };
    let tokenizer = loaded.tokenizer().unwrap();
    let problem = "Ben has 12 apples. He gets 5 more apples. How many apples does Ben have now?";
    let prompt = loaded
        .encode_prompt(&PromptStyle::Cot.render(problem), true)
        .unwrap();
    let opts = SampleOptions {
        max_new_tokens: 96,
        stop_ids: loaded.stop_ids(),
        sampling: SamplingConfig {
            temperature: 0.8,
            top_k: 0,
            top_p: 0.9,
        },
        seed: 0,
    };
    let samples = sample_batched(&loaded.model, &prompt, 5, &opts).unwrap();
    let answers: Vec<String> = samples
        .iter()
        .map(|s| {
            extract_final_candidate(
                &tokenizer.decode(&s.generation.ids),
                Fallback::NumberThenFull,
            )
        })
        .collect();
    let logprobs: Vec<f64> = samples.iter().map(|s| s.avg_logprob).collect();
    let mut out = format!("short answers: {answers:?}\n");
    // All five samples have a majority; their first three tie three ways, where the
    // tie rules part: the book's function reports the tie, its scripts take the first
    // answer seen, the log-probability rule takes the most likely one.
    for n in [5, 3] {
        out.push_str(&format!("\n=== the first {n} samples\n"));
        for tie_break in [TieBreak::Report, TieBreak::FirstSeen, TieBreak::AvgLogprob] {
            let scores = SampleScores {
                avg_logprobs: Some(&logprobs[..n]),
                heuristic: None,
            };
            let vote = self_consistency_vote(&answers[..n], scores, VoteRule::ours(tie_break));
            out.push_str(&format!("\n{tie_break:?}:\n"));
            for g in &vote.groups {
                out.push_str(&format!(
                    "  {:?}: samples {:?}, mean log-prob {:.3}\n",
                    g.answer,
                    g.members,
                    g.logprob_score.unwrap()
                ));
            }
            out.push_str(&format!(
                "  tie: {}, final answer: {:?}\n",
                vote.tie, vote.final_answer
            ));
        }
    }
    insta::assert_snapshot!(out);
}
