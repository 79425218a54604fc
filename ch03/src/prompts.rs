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

/// Which template to wrap a problem in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptStyle {
    /// [`render_prompt`]: answer directly.
    Plain,
    /// [`render_prompt_cot`]: explain step by step first.
    Cot,
}

impl PromptStyle {
    /// The prompt for `problem` in this style.
    pub fn render(self, problem: &str) -> String {
        match self {
            PromptStyle::Plain => render_prompt(problem),
            PromptStyle::Cot => render_prompt_cot(problem),
        }
    }

    /// `plain` or `cot`, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            PromptStyle::Plain => "plain",
            PromptStyle::Cot => "cot",
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
    }
}
