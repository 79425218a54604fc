//! Chapter 2 (book ch. 2 and appendix C): load a real pretrained LLM, turn
//! text into token ids and back, and generate text token by token — first by
//! recomputing the whole sequence each step, then with the KV cache.
//!
//! The model itself lives in `shared`; this chapter holds the steps a reader
//! runs and prints, [`chat`]: a multi-turn conversation, [`inspect`]: looking
//! inside a model file, and [`commands`]: what the command line's subcommands do.

pub mod chat;
pub mod commands;
pub mod inspect;

use serde::Serialize;
use shared::generate::{
    generate_text_basic, generate_text_basic_cache, Generation, GenerationStats,
};
use shared::model::Model;
use shared::tokenizer::Tokenizer;
use shared::Result;

/// A text's tokenization: ids, their vocabulary entries, and the ids decoded back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tokenization {
    pub ids: Vec<u32>,
    /// Vocabulary entries (byte-level form: `Ġ` is a space, `Ċ` a newline).
    pub tokens: Vec<String>,
    pub decoded: String,
}

/// Encodes `text` and decodes it back (book section 2.3).
pub fn tokenize(tokenizer: &Tokenizer, text: &str) -> Tokenization {
    let ids = tokenizer.encode(text);
    let tokens = ids
        .iter()
        .map(|&id| tokenizer.id_to_token(id).unwrap_or("?").to_owned())
        .collect();
    let decoded = tokenizer.decode(&ids);
    Tokenization {
        ids,
        tokens,
        decoded,
    }
}

/// A readable table of a tokenization: one row per token with its id, its
/// vocabulary entry and the text it stands for.
pub fn format_tokenization(tokenizer: &Tokenizer, t: &Tokenization) -> String {
    let mut out = format!("{:>7}  {:<18} text\n", "id", "token");
    for (&id, token) in t.ids.iter().zip(&t.tokens) {
        let text = tokenizer.decode(&[id]);
        out += &format!("{id:>7}  {token:<18} {text:?}\n");
    }
    out += &format!("{} tokens; decoded back: {:?}\n", t.ids.len(), t.decoded);
    out
}

/// Timing statistics as the chapter prints them.
pub fn format_stats(stats: &GenerationStats, load_s: f64) -> String {
    format!(
        "prompt tokens: {}   new tokens: {}   load: {:.2} s   time to first token: {:.3} s   speed: {:.1} tokens/s",
        stats.prompt_tokens,
        stats.new_tokens,
        load_s,
        stats.ttft_s,
        stats.tok_per_s()
    )
}

/// The same greedy generation without and with the KV cache (book section 2.7,
/// appendix C): the ids must be identical; only the time differs.
#[derive(Debug, Clone)]
pub struct CacheComparison {
    pub without_cache: Generation,
    pub with_cache: Generation,
}

impl CacheComparison {
    /// How many times faster the cached run was.
    pub fn speedup(&self) -> f64 {
        self.without_cache.stats.total_s / self.with_cache.stats.total_s.max(f64::EPSILON)
    }

    /// Whether both runs produced the same ids.
    pub fn identical(&self) -> bool {
        self.without_cache.ids == self.with_cache.ids
    }
}

/// Generates `max_new_tokens` greedily from `prompt` both ways (EOS ignored, so
/// both runs do the same amount of work).
pub fn compare_kv_cache(
    model: &Model,
    prompt: &[u32],
    max_new_tokens: usize,
) -> Result<CacheComparison> {
    let without_cache = generate_text_basic(model, prompt, max_new_tokens, &[], &mut |_| {})?;
    let with_cache = generate_text_basic_cache(model, prompt, max_new_tokens, &[], &mut |_| {})?;
    Ok(CacheComparison {
        without_cache,
        with_cache,
    })
}
