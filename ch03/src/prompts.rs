//! Prompt templates: the book's `render_prompt` (ch. 3.9) and its
//! chain-of-thought variant (ch. 4.3: "Explain step by step.").

/// The book's instruction: answer and put the final result in `\boxed{}`.
pub fn render_prompt(problem: &str) -> String {
    format!(
        "You are a helpful math assistant.\n\
         Answer the question and write the final result on a new line as:\n\
         \\boxed{{ANSWER}}\n\n\
         Question:\n{problem}\n\nAnswer:"
    )
}

/// What the book appends to [`render_prompt`] for chain-of-thought prompting.
pub const COT_SUFFIX: &str = " \n\nExplain step by step.";

/// [`render_prompt`] followed by the chain-of-thought request (book ch. 4.3).
pub fn render_prompt_cot(problem: &str) -> String {
    render_prompt(problem) + COT_SUFFIX
}

/// The worked example that [`render_prompt_one_shot`] shows before the question.
pub const ONE_SHOT_EXAMPLE: &str = "Example:\nQuestion:\nTom has 3 apples. He gets 5 more apples. \
How many apples does Tom have now?\n\nAnswer:\nTom has 3 + 5 = 8 apples.\n\\boxed{8}\n\n";

/// [`render_prompt`] with one worked example before the question (one-shot
/// prompting). Small models copy the book's placeholder `\boxed{ANSWER}`
/// literally; an example with a real boxed number shows what is meant. Chapter
/// 5 trains with it: with the book's prompt the default model almost never
/// boxes a number, so the verifiable reward would never be earned.
pub fn render_prompt_one_shot(problem: &str) -> String {
    render_prompt(problem).replacen("Question:\n", &format!("{ONE_SHOT_EXAMPLE}Question:\n"), 1)
}

/// Which template to wrap a problem in (`--prompt plain|cot|one-shot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PromptStyle {
    /// [`render_prompt`]: answer directly.
    #[value(help = "The book's render_prompt: answer directly")]
    Plain,
    /// [`render_prompt_cot`]: explain step by step first.
    #[value(help = "Explain step by step first (chain of thought)")]
    Cot,
    /// [`render_prompt_one_shot`]: one worked example first.
    #[value(help = "One worked example first")]
    OneShot,
}

impl PromptStyle {
    /// The prompt for `problem` in this style.
    pub fn render(self, problem: &str) -> String {
        match self {
            PromptStyle::Plain => render_prompt(problem),
            PromptStyle::Cot => render_prompt_cot(problem),
            PromptStyle::OneShot => render_prompt_one_shot(problem),
        }
    }

    /// `plain` or `cot`, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            PromptStyle::Plain => "plain",
            PromptStyle::Cot => "cot",
            PromptStyle::OneShot => "one-shot",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_the_books() {
        let p = render_prompt("What is 1+1?");
        assert!(p.starts_with("You are a helpful math assistant.\nAnswer the question"));
        assert!(p.contains("\\boxed{ANSWER}\n\nQuestion:\nWhat is 1+1?\n\nAnswer:"));
        assert_eq!(
            PromptStyle::Cot.render("q"),
            format!("{} \n\nExplain step by step.", render_prompt("q"))
        );
        let one_shot = PromptStyle::OneShot.render("What is 1+1?");
        assert!(one_shot.starts_with("You are a helpful math assistant."));
        assert!(one_shot.contains(
            "Tom has 3 + 5 = 8 apples.\n\\boxed{8}\n\nQuestion:\nWhat is 1+1?\n\nAnswer:"
        ));
        assert_eq!(one_shot.matches("Question:").count(), 2);
    }
}
