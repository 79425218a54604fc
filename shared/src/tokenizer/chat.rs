//! Chat templates (book ch. 2): how a conversation becomes the one text a chat model was
//! trained on. Every model carries its own as Jinja source (`chat_template` in
//! `tokenizer_config.json`, `tokenizer.chat_template` in GGUF): [`ChatTemplate`] renders
//! that source as transformers' `apply_chat_template` does, and falls back to a
//! hand-written template ([`HandWritten`]) only for a model that carries none.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::chat_handwritten::HandWritten;
use super::chat_jinja::{describe, JinjaTemplate};
use crate::{Error, Result};

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
    /// A tool's answer (Qwen3 wraps it in `<tool_response>` inside a user turn).
    Tool,
}

impl Role {
    /// The role's name as templates write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What they say (for Qwen3 assistant turns, possibly with a `<think>…</think>` block).
    pub content: String,
}

impl Message {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// A chat template: a model's own Jinja template, compiled once, or a hand-written one.
///
/// A Jinja template that does not compile is kept with minijinja's message, and every
/// rendering returns that message as an error: loading a model never fails because of
/// its chat template, asking for `--chat` does.
#[derive(Clone)]
pub struct ChatTemplate {
    name: String,
    engine: Engine,
}

/// What renders a [`ChatTemplate`].
#[derive(Clone)]
enum Engine {
    /// The model's Jinja source, compiled.
    Jinja(Box<JinjaTemplate>),
    /// One written out by hand.
    HandWritten(HandWritten),
    /// Jinja source that did not compile, and minijinja's message.
    Unusable(String),
}

impl ChatTemplate {
    /// Compiles a model's Jinja template. `name` says whose template it is (a model
    /// name or file) in error messages. A syntax error is an [`Error::ChatTemplate`].
    pub fn from_jinja(name: impl Into<String>, source: &str) -> Result<Self> {
        let template = Self::from_jinja_or_unusable(name, source);
        match &template.engine {
            Engine::Unusable(msg) => Err(template.compile_error(msg)),
            _ => Ok(template),
        }
    }

    /// Like [`from_jinja`](Self::from_jinja), but a template that does not compile is
    /// kept, and reports its error each time it is rendered.
    pub fn from_jinja_or_unusable(name: impl Into<String>, source: &str) -> Self {
        let name = name.into();
        let engine = match JinjaTemplate::compile(&name, source) {
            Ok(template) => Engine::Jinja(Box::new(template)),
            Err(e) => Engine::Unusable(describe(&e)),
        };
        Self { name, engine }
    }

    /// A hand-written template (for a model that carries no template of its own).
    pub fn hand_written(template: HandWritten) -> Self {
        Self {
            name: template.name().to_owned(),
            engine: Engine::HandWritten(template),
        }
    }

    /// Sets the texts of the `bos_token` and `eos_token` variables a Jinja template may
    /// print (Llama 3's starts with `{{ bos_token }}`); hand-written templates use neither.
    pub fn with_special_tokens(mut self, bos: Option<&str>, eos: Option<&str>) -> Self {
        if let Engine::Jinja(template) = &mut self.engine {
            template.set_special_tokens(bos, eos);
        }
        self
    }

    /// Whose template this is, as error messages name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Jinja source this template renders, or `None` for a hand-written one or one
    /// that does not compile.
    pub fn jinja_source(&self) -> Option<&str> {
        match &self.engine {
            Engine::Jinja(template) => Some(template.source()),
            _ => None,
        }
    }

    /// The hand-written template this is, if it is one.
    pub fn as_hand_written(&self) -> Option<HandWritten> {
        match self.engine {
            Engine::HandWritten(template) => Some(template),
            _ => None,
        }
    }

    /// Renders a conversation as `apply_chat_template` does. `add_generation_prompt` opens
    /// the assistant's turn; `enable_thinking` is passed to the template only when given
    /// (Qwen3: `Some(false)` adds an empty think block; `None` behaves like `Some(true)`).
    /// A template that raises (`raise_exception`) or fails is an [`Error::ChatTemplate`].
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        enable_thinking: Option<bool>,
    ) -> Result<String> {
        match &self.engine {
            Engine::Jinja(template) => template
                .render(messages, add_generation_prompt, enable_thinking)
                .map_err(|e| self.error(describe(&e))),
            Engine::HandWritten(template) => {
                Ok(template.render(messages, add_generation_prompt, enable_thinking))
            }
            Engine::Unusable(msg) => Err(self.compile_error(msg)),
        }
    }

    /// One user message and the generation prompt: what `--chat` sends to the model.
    pub fn render_user_prompt(&self, prompt: &str) -> Result<String> {
        self.render(&[Message::user(prompt)], true, None)
    }

    /// An [`Error::ChatTemplate`] about this template.
    fn error(&self, msg: String) -> Error {
        Error::ChatTemplate {
            name: self.name.clone(),
            msg,
        }
    }

    /// The [`Error::ChatTemplate`] of a template that did not compile.
    fn compile_error(&self, msg: &str) -> Error {
        self.error(format!("does not compile: {msg}"))
    }
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.engine {
            Engine::Jinja(_) => "jinja",
            Engine::HandWritten(_) => "hand-written",
            Engine::Unusable(_) => "unusable",
        };
        f.debug_struct("ChatTemplate")
            .field("name", &self.name)
            .field("kind", &kind)
            .finish()
    }
}
