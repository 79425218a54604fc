//! `cargo run -p ch04`: how temperature and top-p reshape a next-token distribution
//! (book 4.4, 4.5), then one self-consistency vote on an arith problem (4.6).

use anyhow::Result;
use ch03::{arith_test_problems, extract_final_candidate, Fallback, PromptStyle};
use shared::cli::{load_model_on, DeviceArgs};
use shared::loader::LoadedModel;

use crate::batched::{sample_batched, SampleOptions};
use crate::report::{format_distribution_chart, token_label, top_tokens};
use crate::sampling::{Sampler, SamplingConfig};
use crate::self_consistency::{self_consistency_vote, SampleScores, TieBreak, VoteRule};

/// The demo's prompt (book ch. 4.4).
const DEMO_PROMPT: &str = "The capital of Germany is";
/// Samples in the demo's self-consistency vote.
const DEMO_SAMPLES: usize = 5;

/// The demo: temperature, top-p, and one vote (the model on `device`).
pub fn demo(model: &str, device: DeviceArgs) -> Result<()> {
    let loaded = load_model_on(model, device)?;
    let tokenizer = loaded.tokenizer()?;
    let ids = loaded.encode_prompt(DEMO_PROMPT, false)?;
    let logits = loaded.model.forward(&ids)?;
    let last = logits.row(logits.nrows() - 1).to_vec();
    println!("== 4.4 Temperature reshapes the next-token distribution of {DEMO_PROMPT:?} ==\n");
    for temperature in [0.5, 1.0, 5.0] {
        let config = SamplingConfig {
            temperature,
            top_k: 0,
            top_p: 1.0,
        };
        print_distribution(&loaded, &format!("T = {temperature}"), config, &last)?;
    }
    println!("== 4.5 Top-p = 0.9 at T = 1: the tail is cut, the rest renormalized ==\n");
    let config = SamplingConfig {
        temperature: 1.0,
        top_k: 0,
        top_p: 0.9,
    };
    print_distribution(&loaded, "T = 1, top-p = 0.9", config, &last)?;
    let kept = Sampler::new(config, 0)?
        .next_token_distribution(&last)
        .iter()
        .filter(|&&p| p > 0.0)
        .count();
    println!("top-p keeps {kept} of {} tokens\n", last.len());

    println!("== 4.6 Self-consistency: {DEMO_SAMPLES} samples of one arith problem, one vote ==\n");
    let problem = &arith_test_problems(1, 0, "1")?[0];
    println!("{}\n(answer: {})\n", problem.problem, problem.answer);
    let prompt = loaded.encode_prompt_as(
        &PromptStyle::Cot.render(&problem.problem),
        loaded.default_prompt_mode(),
    )?;
    let opts = SampleOptions {
        max_new_tokens: 192,
        stop_ids: loaded.stop_ids(),
        sampling: SamplingConfig {
            temperature: 0.8,
            top_k: 0,
            top_p: 0.9,
        },
        seed: 0,
    };
    let samples = sample_batched(&loaded.model, &prompt, DEMO_SAMPLES, &opts)?;
    let mut answers = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let text = tokenizer.decode(&s.generation.ids);
        let short = extract_final_candidate(&text, Fallback::NumberThenFull);
        println!(
            "sample {} ({} tokens, avg log-prob {:.3}): {short:?}",
            i + 1,
            s.generation.ids.len(),
            s.avg_logprob
        );
        answers.push(short);
    }
    let logprobs: Vec<f64> = samples.iter().map(|s| s.avg_logprob).collect();
    let scores = SampleScores {
        avg_logprobs: Some(&logprobs),
        heuristic: None,
    };
    let vote = self_consistency_vote(&answers, scores, VoteRule::ours(TieBreak::Report));
    for g in &vote.groups {
        println!("  {:?}: {} vote(s)", g.answer, g.members.len());
    }
    match &vote.final_answer {
        Some(a) => println!("majority answer: {a:?} ({})", verdict(a, &problem.answer)),
        None => println!(
            "tie between {:?}: no majority (the book's behaviour; --tie-break logprob picks one)",
            vote.majority_winners
        ),
    }
    Ok(())
}

fn verdict(answer: &str, truth: &str) -> &'static str {
    if ch03::grade_answer(answer, truth) {
        "correct"
    } else {
        "wrong"
    }
}

/// Prints the top tokens of the distribution `config` makes of `logits`.
fn print_distribution(
    loaded: &LoadedModel,
    title: &str,
    config: SamplingConfig,
    logits: &[f32],
) -> Result<()> {
    let tokenizer = loaded.tokenizer()?;
    let mut sampler = Sampler::new(config, 0)?;
    let probs = sampler.next_token_distribution(logits);
    let rows = top_tokens(probs, 6)
        .into_iter()
        .map(|(id, p)| (token_label(&tokenizer.decode(&[id])), p))
        .collect::<Vec<_>>();
    println!("{title}\n{}", format_distribution_chart(&rows, 40));
    Ok(())
}
