//! The self-refinement loop on the default model: rounds are recorded, a
//! revision is kept exactly when its score does not drop, and a seed
//! reproduces the whole loop.

use ch03::PromptStyle;
use ch04::sampling::SamplingConfig;
use ch04::scoring::HeuristicWeights;
use ch04::self_refine::{
    make_critique_prompt, make_refine_prompt, self_refinement_loop, RefineConfig, Score,
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
