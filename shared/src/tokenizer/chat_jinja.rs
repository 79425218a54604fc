//! A model's own Jinja chat template, rendered with `minijinja` the way transformers'
//! `apply_chat_template` renders it with Python's Jinja2: blocks trimmed (`trim_blocks`,
//! `lstrip_blocks`), the trailing newline dropped, no HTML escaping, Python's string
//! methods (`strip`, `split`, `startswith`, …), `raise_exception(msg)`, and the variables
//! `messages`, `add_generation_prompt`, `enable_thinking` (only when given: Qwen3's
//! template tells "undefined" from `true`), `bos_token` and `eos_token` (when known).
//! `tools` stays undefined.

use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, ErrorKind, Value};

use super::chat::Message;

/// A compiled Jinja chat template and the special tokens it may print.
#[derive(Clone)]
pub(crate) struct JinjaTemplate {
    env: Environment<'static>,
    name: String,
    source: String,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

impl JinjaTemplate {
    /// Compiles `source` under `name` (the name minijinja's messages point into).
    pub(crate) fn compile(name: &str, source: &str) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(false)
                .build()?,
        );
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(name.to_owned(), source.to_owned())?;
        Ok(Self {
            env,
            name: name.to_owned(),
            source: source.to_owned(),
            bos_token: None,
            eos_token: None,
        })
    }

    /// Sets the texts of `bos_token` and `eos_token` the template may print.
    pub(crate) fn set_special_tokens(&mut self, bos: Option<&str>, eos: Option<&str>) {
        self.bos_token = bos.map(str::to_owned);
        self.eos_token = eos.map(str::to_owned);
    }

    /// The Jinja source.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Renders `messages` with the template's variables set as transformers sets them.
    pub(crate) fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        enable_thinking: Option<bool>,
    ) -> Result<String, minijinja::Error> {
        let mut context = BTreeMap::from([
            ("messages", messages.iter().map(message_value).collect()),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
        ]);
        if let Some(enable_thinking) = enable_thinking {
            context.insert("enable_thinking", enable_thinking.into());
        }
        for (key, token) in [
            ("bos_token", &self.bos_token),
            ("eos_token", &self.eos_token),
        ] {
            if let Some(token) = token {
                context.insert(key, token.as_str().into());
            }
        }
        self.env
            .get_template(&self.name)?
            .render(Value::from(context))
    }
}

/// One message as the template sees it: `{"role": …, "content": …}`.
fn message_value(message: &Message) -> Value {
    Value::from(BTreeMap::from([
        ("role", Value::from(message.role.as_str())),
        ("content", Value::from(message.content.as_str())),
    ]))
}

/// Jinja's `raise_exception(msg)` as transformers defines it: stops rendering with `msg`.
fn raise_exception(message: String) -> Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

/// A minijinja error as one line: its message and every cause after it.
pub(crate) fn describe(error: &minijinja::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
