//! What the command line's subcommands do: `tokenize`, `generate` (streamed),
//! `inspect`, and the chapter's demo.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;
use shared::cli::{load_model_on, DeviceArgs};
use shared::generate::{generate_text_basic, generate_text_basic_cache};
use shared::loader::{load_tokenizer, LoadedModel};
use shared::models::resolve_model;
use shared::tokenizer::StreamDecoder;

use crate::inspect::{format_summary, format_tensor, inspect_document, ModelFile};
use crate::{compare_kv_cache, format_stats, format_tokenization, tokenize};

/// What `ch02 generate` asks of the greedy loop.
#[derive(Debug, Clone)]
pub struct GreedyOptions {
    /// The most tokens to generate.
    pub max_new_tokens: usize,
    /// Ids that end the answer (empty with `--ignore-eos`).
    pub stop_ids: Vec<u32>,
    /// The KV cache ([`generate_text_basic_cache`]) or not ([`generate_text_basic`]).
    pub use_cache: bool,
}

/// `ch02 inspect`: the summary, or one tensor, as text or one JSON document.
pub fn inspect_command(
    model: &str,
    tensor: Option<&str>,
    limit: Option<usize>,
    json: bool,
    full_metadata: bool,
) -> Result<()> {
    let file = ModelFile::open(&resolve_model(model)?)?;
    let selected = match tensor {
        Some(name) => {
            let entry = file.tensor(name)?;
            Some((entry, file.tensor_values(entry, limit)?))
        }
        None => None,
    };
    if json {
        let values = selected.as_ref().map(|(_, values)| values.as_slice());
        let mut out = BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer(&mut out, &inspect_document(&file, full_metadata, values))?;
        writeln!(out)?;
        out.flush()?;
    } else if let Some((entry, values)) = &selected {
        print!("{}", format_tensor(&file, entry, values));
    } else {
        print!("{}", format_summary(&file, full_metadata));
    }
    Ok(())
}

/// `ch02 tokenize`: how `text` splits into tokens, as a table or one JSON document.
pub fn tokenize_command(
    model: &str,
    text: &str,
    tokenizer: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let path = match tokenizer {
        Some(path) => path,
        None => resolve_model(model)?.path().to_path_buf(),
    };
    let tokenizer = load_tokenizer(&path)
        .with_context(|| format!("could not load a tokenizer from {}", path.display()))?;
    let t = tokenize(&tokenizer, text);
    if json {
        println!("{}", serde_json::to_string(&t)?);
    } else {
        print!("{}", format_tokenization(&tokenizer, &t));
    }
    Ok(())
}

/// `ch02 generate`: a greedy continuation of `input_ids`, streamed as it is produced (or
/// one JSON document), then its statistics.
pub fn generate_command(
    loaded: &LoadedModel,
    input_ids: &[u32],
    opts: &GreedyOptions,
    json: bool,
) -> Result<()> {
    let mut decoder = loaded.tokenizer.as_ref().map(StreamDecoder::new);
    let mut stdout = std::io::stdout();
    let mut print_token = |id: u32| {
        if json {
            return;
        }
        let piece = match decoder.as_mut() {
            Some(d) => d.push(id),
            None => format!("{id} "),
        };
        print!("{piece}");
        let _ = stdout.flush();
    };
    let (model, max, stop) = (&loaded.model, opts.max_new_tokens, &opts.stop_ids);
    let result = if opts.use_cache {
        generate_text_basic_cache(model, input_ids, max, stop, &mut print_token)?
    } else {
        generate_text_basic(model, input_ids, max, stop, &mut print_token)?
    };
    let text = loaded.tokenizer.as_ref().map(|t| t.decode(&result.ids));
    if json {
        let doc = json!({
            "input_ids": input_ids,
            "ids": result.ids,
            "text": text,
            "prompt_tokens": result.stats.prompt_tokens,
            "new_tokens": result.stats.new_tokens,
            "load_s": loaded.load_s,
            "ttft_s": result.stats.ttft_s,
            "tok_per_s": result.stats.tok_per_s(),
        });
        println!("{doc}");
    } else {
        if let Some(d) = decoder {
            print!("{}", d.finish());
        }
        println!();
        eprintln!("{}", format_stats(&result.stats, loaded.load_s));
    }
    Ok(())
}

/// The chapter's walk-through, with the model on `device`.
pub fn demo(model: &str, device: DeviceArgs) -> Result<()> {
    println!("== 2.2 Loading a pretrained LLM");
    let loaded = load_model_on(model, device)?;
    let tokenizer = loaded.tokenizer()?;

    println!("\n== 2.3 Text to token ids and back");
    let sentence = "Reasoning models think step by step: 12 × 7 = 84.";
    println!("{sentence:?}");
    print!(
        "{}",
        format_tokenization(tokenizer, &tokenize(tokenizer, sentence))
    );

    println!("\n== 2.5 Generating text, one token at a time (KV cache, greedy)");
    let prompt = "Explain in two sentences why the sky is blue.";
    print!("user: {prompt}\nassistant: ");
    let ids = loaded.encode_prompt(prompt, true)?;
    let opts = GreedyOptions {
        max_new_tokens: 96,
        stop_ids: loaded.stop_ids(),
        use_cache: true,
    };
    generate_command(&loaded, &ids, &opts, false)?;

    println!("\n== 2.7 The KV cache: the same 32 tokens without and with it");
    let comparison = compare_kv_cache(&loaded.model, &ids, 32)?;
    for (name, g) in [
        ("without cache", &comparison.without_cache),
        ("with cache", &comparison.with_cache),
    ] {
        println!(
            "{name:>14}: {:6.2} s  {:6.1} tokens/s",
            g.stats.total_s,
            g.stats.tok_per_s()
        );
    }
    println!(
        "speedup: {:.1}x, identical token ids: {}",
        comparison.speedup(),
        if comparison.identical() { "yes" } else { "NO" }
    );
    Ok(())
}
