//! Byte-level BPE tokenizers (GGUF metadata or HF tokenizer.json) and chat templates
//! (book ch. 2).
//!
//! - [`Tokenizer`]: text ↔ ids; built from a Hugging Face `tokenizer.json`
//!   ([`Tokenizer::from_tokenizer_json`]) or from GGUF metadata ([`Tokenizer::from_gguf_vocab`]),
//!   and written back as one ([`Tokenizer::to_tokenizer_json`])
//! - [`PreTokenizer`]: the split rules (GPT-2, SmolLM2, Qwen2, Llama 3) as hand-written scanners
//! - [`StreamDecoder`]: text released token by token during generation
//! - [`ChatTemplate`]: a model's own Jinja chat template (rendered with minijinja as
//!   transformers does), or a [`HandWritten`] one (SmolLM2, Qwen3) for a model without one

mod added;
mod bpe;
mod byte_level;
mod chat;
mod chat_handwritten;
mod chat_jinja;
mod codec;
mod gguf_vocab;
mod hf_json;
mod hf_json_write;
mod pretokenize;
mod stream;

pub use byte_level::{byte_to_char, char_to_byte};
pub use chat::{ChatTemplate, Message, Role};
pub use chat_handwritten::{HandWritten, SMOLLM2_DEFAULT_SYSTEM};
pub use codec::{Entry, Normalizer, Spec, TokenKind, Tokenizer};
pub use gguf_vocab::GgufVocab;
pub use pretokenize::{PreTokenizer, GPT2_PATTERN, LLAMA3_PATTERN, QWEN2_PATTERN};
pub use stream::StreamDecoder;
