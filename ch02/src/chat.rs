//! `ch02 chat`: a multi-turn conversation with the model (the book's bonus
//! `chat_multiturn.py`). Each turn renders the whole history with the model's own
//! chat template, generates the answer greedily with the KV cache while streaming
//! it, and adds it to the history.
//!
//! Lines starting with a backslash are commands: `\clear` forgets the history,
//! `\history` prints it, `\exit` (or the end of the input) quits.

use std::io::{BufRead, Write};
use std::time::Instant;

use shared::generate::{generate_text_basic_cache, StopReason};
use shared::loader::LoadedModel;
use shared::tokenizer::{ChatTemplate, Message, Role, StreamDecoder};
use shared::{Error, Result};

/// What one input line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatInput {
    /// A message to the model.
    Say(String),
    /// `\clear`: forget the conversation.
    Clear,
    /// `\history`: print the conversation so far.
    History,
    /// `\exit` (or `\quit`): stop.
    Exit,
    /// A blank line: nothing to do.
    Nothing,
    /// A backslash command we do not know.
    Unknown(String),
}

/// Reads one input line as a [`ChatInput`].
pub fn parse_chat_input(line: &str) -> ChatInput {
    let text = line.trim();
    match text {
        "" => ChatInput::Nothing,
        "\\clear" => ChatInput::Clear,
        "\\history" => ChatInput::History,
        "\\exit" | "\\quit" => ChatInput::Exit,
        command if command.starts_with('\\') => ChatInput::Unknown(command.to_string()),
        message => ChatInput::Say(message.to_string()),
    }
}

/// The settings of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatOptions {
    /// The most tokens per answer.
    pub max_new_tokens: usize,
    /// Qwen3's `enable_thinking` (`None`: the template's default).
    pub thinking: Option<bool>,
    /// Print a `> ` prompt before each input line (stdin is a terminal).
    pub show_prompt: bool,
}

/// A conversation: the model and the turns so far.
pub struct ChatSession<'m> {
    loaded: &'m LoadedModel,
    template: &'m ChatTemplate,
    history: Vec<Message>,
    options: ChatOptions,
}

impl<'m> ChatSession<'m> {
    /// A new, empty conversation with `loaded`, which needs a tokenizer and a chat
    /// template (an error says so otherwise).
    pub fn new(loaded: &'m LoadedModel, options: ChatOptions) -> Result<ChatSession<'m>> {
        loaded.tokenizer()?;
        let template = loaded.chat_template.as_ref().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "ch02 chat needs a chat template, and none is known for {} (a base model?): \
                 use `ch02 generate --prompt` to continue plain text",
                loaded.location.display()
            ))
        })?;
        Ok(ChatSession {
            loaded,
            template,
            history: Vec::new(),
            options,
        })
    }

    /// The turns so far.
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    /// The conversation so far plus `message`, as the token ids the model sees: the
    /// template over every turn, with the assistant's turn opened.
    fn prompt_ids(&self, message: &str) -> Result<Vec<u32>> {
        let mut turns = self.history.clone();
        turns.push(Message::user(message));
        let text = self.template.render(&turns, true, self.options.thinking)?;
        Ok(self.loaded.tokenizer()?.encode(&text))
    }

    /// Answers `message`, streaming the answer to `out` as it is generated, and adds
    /// both to the history. A conversation that no longer fits the model's context
    /// gets a message saying so, and the history is left as it was.
    pub fn reply(&mut self, message: &str, out: &mut dyn Write) -> Result<()> {
        let ids = self.prompt_ids(message)?;
        let context = self.loaded.model.config.max_position_embeddings;
        if ids.len() >= context {
            writeln!(
                out,
                "[the conversation is {} tokens, the model's context {context}: \\clear to start over]",
                ids.len()
            )
            .map_err(write_error)?;
            return Ok(());
        }
        let tokenizer = self.loaded.tokenizer()?;
        let mut decoder = StreamDecoder::new(tokenizer);
        let mut failed = None;
        let start = Instant::now();
        let generation = generate_text_basic_cache(
            &self.loaded.model,
            &ids,
            self.options.max_new_tokens,
            &self.loaded.stop_ids(),
            &mut |id| {
                let piece = decoder.push(id);
                if failed.is_none() {
                    failed = write!(out, "{piece}").and_then(|_| out.flush()).err();
                }
            },
        )?;
        if let Some(e) = failed {
            return Err(write_error(e));
        }
        writeln!(out, "{}", decoder.finish()).map_err(write_error)?;
        match generation.stop {
            StopReason::ContextFull => writeln!(
                out,
                "[the context ({context} tokens) is full: the answer stops here; \\clear to start over]"
            )
            .map_err(write_error)?,
            StopReason::MaxNewTokens => eprintln!(
                "[stopped at --max-new-tokens {}]",
                self.options.max_new_tokens
            ),
            StopReason::StopToken => {}
        }
        eprintln!(
            "[{} tokens in {:.1} s; the conversation is {} tokens]",
            generation.ids.len(),
            start.elapsed().as_secs_f64(),
            ids.len() + generation.ids.len()
        );
        self.history.push(Message::user(message));
        self.history
            .push(Message::assistant(tokenizer.decode(&generation.ids)));
        Ok(())
    }

    /// Forgets every turn.
    pub fn clear(&mut self) {
        self.history.clear();
    }

    /// The history as text, one `role: content` block per turn.
    pub fn format_history(&self) -> String {
        if self.history.is_empty() {
            return "[no turns yet]\n".to_string();
        }
        self.history
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::User => "you",
                    other => other.as_str(),
                };
                format!("{role}: {}\n", m.content)
            })
            .collect()
    }
}

/// The REPL: reads lines from `input` until `\exit` or its end, answering each
/// message on `out`.
pub fn run_chat(
    session: &mut ChatSession,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    let mut line = String::new();
    loop {
        if session.options.show_prompt {
            write!(out, "> ")
                .and_then(|_| out.flush())
                .map_err(write_error)?;
        }
        line.clear();
        if input.read_line(&mut line).map_err(read_error)? == 0 {
            return Ok(());
        }
        match parse_chat_input(&line) {
            ChatInput::Say(message) => session.reply(&message, out)?,
            ChatInput::Clear => {
                session.clear();
                writeln!(out, "[history cleared]").map_err(write_error)?;
            }
            ChatInput::History => {
                write!(out, "{}", session.format_history()).map_err(write_error)?
            }
            ChatInput::Exit => return Ok(()),
            ChatInput::Nothing => {}
            ChatInput::Unknown(command) => writeln!(
                out,
                "[unknown command {command}: \\clear, \\history or \\exit]"
            )
            .map_err(write_error)?,
        }
    }
}

/// An error writing the chat's output.
fn write_error(e: std::io::Error) -> Error {
    Error::io("<stdout>", e)
}

/// An error reading the chat's input.
fn read_error(e: std::io::Error) -> Error {
    Error::io("<stdin>", e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_start_with_a_backslash_and_anything_else_is_a_message() {
        assert_eq!(parse_chat_input("  \\clear \n"), ChatInput::Clear);
        assert_eq!(parse_chat_input("\\history"), ChatInput::History);
        assert_eq!(parse_chat_input("\\exit"), ChatInput::Exit);
        assert_eq!(parse_chat_input("\\quit"), ChatInput::Exit);
        assert_eq!(parse_chat_input("   \n"), ChatInput::Nothing);
        assert_eq!(
            parse_chat_input("\\help"),
            ChatInput::Unknown("\\help".into())
        );
        assert_eq!(
            parse_chat_input("What is 2 + 2?\n"),
            ChatInput::Say("What is 2 + 2?".into())
        );
    }
}
