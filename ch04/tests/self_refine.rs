//! The self-refinement loop on the default model: rounds are recorded, a
//! revision is kept exactly when its score does not drop, and a seed
//! reproduces the whole loop.

use ch03::PromptStyle;
use ch04::sampling::SamplingConfig;
use ch04::scoring::{avg_logprob_answer, HeuristicWeights};
use ch04::self_refine::{
    make_critique_prompt, make_refine_prompt, self_refinement_loop, RefineConfig, Score,
    NO_ANSWER_SCORE,
};
use shared::fixtures::default_model;
use shared::loader::{load_model_files, PromptMode};

#[test]
fn prompts_are_the_books() {
    let c = make_critique_prompt("Q?", "D.");
    assert!(c.starts_with("You are a meticulous reviewer."));
    assert!(c.ends_with("Question:\nQ?\n\nDraft answer:\nD.\n\nWrite a short critique and bullet-point fix plan (under ~120 words).\nCritique:"));
    let r = make_refine_prompt("Q?", "D.", "C.");
    assert!(r.starts_with("Revise the answer using the critique. Keep it concise and end with a final boxed result: \\boxed{ANSWER}\n\n"));
    assert!(r.ends_with("Previous answer:\nD.\n\nCritique:\nC.\n\nRevised answer:"));
}

#[test]
fn rounds_keep_a_revision_only_if_its_score_does_not_drop() {
    let Some(files) = default_model() else {
        return;
    };
    let loaded = load_model_files(&files).unwrap();
    let scores = [
        (Score::Heuristic(HeuristicWeights::default()), 2),
        (Score::AvgLogprob, 1),
    ];
    for (score, iterations) in scores {
        let config = RefineConfig {
            iterations,
            max_response_tokens: 24,
            max_critique_tokens: 16,
            sampling: SamplingConfig {
                temperature: 0.7,
                top_k: 0,
                top_p: 0.9,
            },
            seed: 3,
            prompt_mode: PromptMode {
                chat: true,
                thinking: None,
            },
            prompt: PromptStyle::Plain,
            score,
        };
        let result = self_refinement_loop(&loaded, "What is 6 times 7?", &config).unwrap();
        assert_eq!(result.steps.len(), iterations);
        let mut current = result.steps[0].draft_full.clone();
        for step in &result.steps {
            assert_eq!(step.draft_full, current);
            assert_eq!(step.accepted, step.score_after >= step.score_before);
            if step.accepted {
                current = step.revised_full.clone();
            }
        }
        assert_eq!(result.final_full, current);
        assert!(result.tokens > 0);
        if iterations == 1 {
            let again = self_refinement_loop(&loaded, "What is 6 times 7?", &config).unwrap();
            assert_eq!(again, result, "the seed reproduces the loop");
        }
    }
}

/// The book's `--scoring none` keeps every revision; `logprob_extract` scores only the
/// boxed (else last-number) answer, as `"\n\boxed{…}"` after the original prompt.
#[test]
fn scoring_none_keeps_every_revision_and_extract_scores_the_answer_alone() {
    let Some(files) = default_model() else {
        return;
    };
    let loaded = load_model_files(&files).unwrap();
    let config = |score| RefineConfig {
        iterations: 1,
        max_response_tokens: 24,
        max_critique_tokens: 8,
        sampling: SamplingConfig {
            temperature: 0.7,
            top_k: 0,
            top_p: 0.9,
        },
        seed: 5,
        prompt_mode: PromptMode {
            chat: true,
            thinking: None,
        },
        prompt: PromptStyle::Plain,
        score,
    };
    let question = "What is 6 times 7?";
    let none = self_refinement_loop(&loaded, question, &config(Score::None)).unwrap();
    assert!(none
        .steps
        .iter()
        .all(|s| s.accepted && s.score_after == 0.0));
    assert_eq!(none.final_full, none.steps[0].revised_full);

    let extract =
        self_refinement_loop(&loaded, question, &config(Score::AvgLogprobExtract)).unwrap();
    let step = &extract.steps[0];
    let prompt_ids = loaded
        .encode_prompt_as(
            &PromptStyle::Plain.render(question),
            config(Score::None).prompt_mode,
        )
        .unwrap();
    for (full, score) in [
        (&step.draft_full, step.score_before),
        (&step.revised_full, step.score_after),
    ] {
        let boxed = ch03::extract_final_candidate(full, ch03::Fallback::None);
        let candidate = if boxed.is_empty() {
            ch03::extract_final_candidate(full, ch03::Fallback::NumberOnly)
        } else {
            boxed
        };
        let want = if candidate.is_empty() {
            NO_ANSWER_SCORE
        } else {
            let ids = loaded
                .tokenizer()
                .unwrap()
                .encode(&format!("\n\\boxed{{{}}}", candidate.trim()));
            avg_logprob_answer(&loaded.model, &prompt_ids, &ids).unwrap()
        };
        assert_eq!(score, want, "{full:?}");
    }
}
