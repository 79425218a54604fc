//! The hand-written chat templates (book ch. 2): what SmolLM2's and Qwen3's Jinja templates
//! produce, written out without a template engine. A model that carries its own template
//! is rendered from it ([`super::ChatTemplate::from_jinja`]); these serve the models that
//! carry none (a folder without `tokenizer_config.json`). Both are ChatML: each message is
//! `<|im_start|>{role}\n{content}<|im_end|>\n`.

use super::chat::{Message, Role};

/// SmolLM2's system prompt when the conversation does not start with one.
pub const SMOLLM2_DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// The chat templates written out by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandWritten {
    /// SmolLM2-Instruct: ChatML, with [`SMOLLM2_DEFAULT_SYSTEM`] when the first message is not a system message.
    SmolLm2,
    /// Qwen3: ChatML; earlier assistant turns lose their reasoning, and
    /// `enable_thinking: Some(false)` pre-fills an empty `<think>` block.
    Qwen3,
}

impl HandWritten {
    /// The template's name, e.g. in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::SmolLm2 => "hand-written SmolLM2 template",
            Self::Qwen3 => "hand-written Qwen3 template",
        }
    }

    /// Renders a conversation as the model's template does. `add_generation_prompt` opens
    /// the assistant's turn; `enable_thinking` matters to Qwen3 only (`Some(false)` adds
    /// an empty think block; `None` behaves like `Some(true)`).
    pub fn render(
        self,
        messages: &[Message],
        add_generation_prompt: bool,
        enable_thinking: Option<bool>,
    ) -> String {
        let mut out = match self {
            Self::SmolLm2 => render_smollm2(messages),
            Self::Qwen3 => render_qwen3(messages),
        };
        if add_generation_prompt {
            out.push_str("<|im_start|>assistant\n");
            if self == Self::Qwen3 && enable_thinking == Some(false) {
                out.push_str("<think>\n\n</think>\n\n");
            }
        }
        out
    }
}

/// Appends `<|im_start|>{role}\n{content}<|im_end|>\n`.
fn push_turn(out: &mut String, role: &str, content: &str) {
    out.push_str("<|im_start|>");
    out.push_str(role);
    out.push('\n');
    out.push_str(content);
    out.push_str("<|im_end|>\n");
}

/// SmolLM2-Instruct's template: every message as a ChatML turn, after the default system
/// prompt when the conversation does not open with a system message.
fn render_smollm2(messages: &[Message]) -> String {
    let mut out = String::new();
    if messages.first().is_some_and(|m| m.role != Role::System) {
        push_turn(&mut out, "system", SMOLLM2_DEFAULT_SYSTEM);
    }
    for message in messages {
        push_turn(&mut out, message.role.as_str(), &message.content);
    }
    out
}

/// Qwen3's template (without tool definitions): system and user turns verbatim; assistant
/// turns after the last real user query keep their reasoning in a `<think>` block, earlier
/// ones lose it; consecutive tool results share one user turn.
fn render_qwen3(messages: &[Message]) -> String {
    let mut out = String::new();
    let last_query = last_user_query(messages);
    for (i, message) in messages.iter().enumerate() {
        match message.role {
            Role::System | Role::User => {
                push_turn(&mut out, message.role.as_str(), &message.content)
            }
            Role::Assistant => {
                let is_last = i + 1 == messages.len();
                render_qwen3_assistant(&mut out, &message.content, i > last_query, is_last);
            }
            Role::Tool => {
                if i == 0 || messages[i - 1].role != Role::Tool {
                    out.push_str("<|im_start|>user");
                }
                out.push_str("\n<tool_response>\n");
                out.push_str(&message.content);
                out.push_str("\n</tool_response>");
                if messages
                    .get(i + 1)
                    .is_none_or(|next| next.role != Role::Tool)
                {
                    out.push_str("<|im_end|>\n");
                }
            }
        }
    }
    out
}

/// The index of the last user message that is a real query (not a wrapped tool response);
/// the last index when there is none.
fn last_user_query(messages: &[Message]) -> usize {
    messages
        .iter()
        .rposition(|m| {
            m.role == Role::User
                && !(m.content.starts_with("<tool_response>")
                    && m.content.ends_with("</tool_response>"))
        })
        .unwrap_or(messages.len().saturating_sub(1))
}

/// One Qwen3 assistant turn. Its content splits at `</think>` into reasoning and answer;
/// the reasoning is kept only after the last query, and there only for the final turn or
/// a turn that has some.
fn render_qwen3_assistant(out: &mut String, content: &str, after_last_query: bool, is_last: bool) {
    let (reasoning, answer) = split_reasoning(content);
    out.push_str("<|im_start|>assistant\n");
    if after_last_query && (is_last || !reasoning.is_empty()) {
        out.push_str("<think>\n");
        out.push_str(reasoning.trim_matches('\n'));
        out.push_str("\n</think>\n\n");
        out.push_str(answer.trim_start_matches('\n'));
    } else {
        out.push_str(answer);
    }
    out.push_str("<|im_end|>\n");
}

/// `(reasoning, answer)` of an assistant message, as the template computes them: the answer
/// is what follows the last `</think>` (leading newlines removed), the reasoning what
/// precedes the first `</think>` after its last `<think>`; without `</think>`, no reasoning.
fn split_reasoning(content: &str) -> (&str, &str) {
    let Some(last_close) = content.rfind("</think>") else {
        return ("", content);
    };
    let answer = content[last_close + "</think>".len()..].trim_start_matches('\n');
    let before = &content[..content.find("</think>").expect("found above")];
    let before = before.trim_end_matches('\n');
    let reasoning = before
        .rfind("<think>")
        .map_or(before, |open| &before[open + "<think>".len()..]);
    (reasoning.trim_start_matches('\n'), answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_split_follows_the_template() {
        assert_eq!(split_reasoning("plain"), ("", "plain"));
        assert_eq!(
            split_reasoning("<think>\nstep\n</think>\n\nanswer"),
            ("step", "answer")
        );
        assert_eq!(split_reasoning("no open</think>x"), ("no open", "x"));
    }

    #[test]
    fn qwen3_drops_reasoning_of_earlier_turns() {
        let messages = [
            Message::user("a"),
            Message::assistant("<think>\nr1\n</think>\n\nb"),
            Message::user("c"),
            Message::assistant("<think>\nr2\n</think>\n\nd"),
        ];
        assert_eq!(
            HandWritten::Qwen3.render(&messages, false, None),
            "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n\
             <|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n<think>\nr2\n</think>\n\nd<|im_end|>\n"
        );
    }

    #[test]
    fn qwen3_last_assistant_turn_gets_an_empty_think_block() {
        let messages = [Message::user("a"), Message::assistant("b")];
        assert_eq!(
            HandWritten::Qwen3.render(&messages, false, None),
            "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nb<|im_end|>\n"
        );
    }

    #[test]
    fn smollm2_ignores_thinking_and_keeps_a_given_system_prompt() {
        let messages = [Message::system("s"), Message::user("u")];
        assert_eq!(
            HandWritten::SmolLm2.render(&messages, true, Some(false)),
            "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
