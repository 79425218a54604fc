//! Byte-level BPE tokenizers (GGUF metadata or HF tokenizer.json) and chat templates.
