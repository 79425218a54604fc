//! `cargo run -p ch02`: load SmolLM2, tokenize, stream a chat answer, and time
//! generation with and without the KV cache. Subcommands `tokenize`, `generate`,
//! `chat`, `inspect`.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;

use ch02::chat::{run_chat, ChatOptions, ChatSession};
use ch02::inspect::{format_summary, format_tensor, inspect_document, ModelFile};
use ch02::{compare_kv_cache, format_stats, format_tokenization, tokenize};
use shared::cli::{exit_code, load_model_on, prompt_ids, DeviceArgs, PromptArgs, Thinking};
use shared::generate::{generate, GenerateOptions};
use shared::loader::{load_tokenizer, LoadedModel};
use shared::models::{resolve_model, DEFAULT_MODEL};
use shared::tensor::argmax;
use shared::tokenizer::StreamDecoder;

#[derive(Parser)]
#[command(
    name = "ch02",
    about = "Chapter 2: load a pretrained LLM, tokenize text, generate with and without the KV cache",
    long_about = "Without a subcommand, runs the chapter's demo: loads the model (fetching the default one \
                  on first use), shows how a sentence tokenizes, streams an answer to a chat prompt, and \
                  compares generation with and without the KV cache."
)]
struct Cli {
    /// Model: a known name (smollm2-135m-instruct, qwen3-0.6b-base, qwen3-0.6b, qwen2.5-coder-0.5b-instruct), a .gguf file or a Hugging Face folder.
    #[arg(long, global = true, default_value = DEFAULT_MODEL)]
    model: String,
    #[command(flatten, next_help_heading = "Device")]
    device: DeviceArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Show how a text splits into tokens.
    Tokenize {
        /// The text to tokenize.
        #[arg(long)]
        text: String,
        /// A tokenizer.json, a folder holding one, or a .gguf (default: the --model's tokenizer).
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// Print one JSON document: {"ids", "tokens", "decoded"}.
        #[arg(long)]
        json: bool,
    },
    /// Generate a continuation greedily, streaming it as it is produced.
    Generate {
        /// The prompt text.
        #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
        prompt: Option<String>,
        #[command(flatten)]
        prompt_args: PromptArgs,
        /// Prompt as token ids, e.g. 1,2,3 (works for models without a tokenizer).
        #[arg(long)]
        ids: Option<String>,
        /// Most tokens to generate.
        #[arg(long, default_value_t = 128)]
        max_new_tokens: usize,
        /// Recompute the whole sequence each step instead of using the KV cache.
        #[arg(long)]
        no_cache: bool,
        /// Keep going past end-of-sequence tokens.
        #[arg(long)]
        ignore_eos: bool,
        /// Print one JSON document instead of streaming text.
        #[arg(long)]
        json: bool,
    },
    /// Talk with the model: a multi-turn chat on stdin/stdout, each answer streamed as it
    /// is generated (greedy), the whole conversation in the model's chat template.
    /// `\clear` forgets the conversation, `\history` prints it, `\exit` or the end of
    /// the input quits.
    Chat {
        /// Qwen3: think before answering (on) or answer at once (off) [default: the template's, on].
        #[arg(long, value_enum, value_name = "on|off")]
        thinking: Option<Thinking>,
        /// Most tokens per answer.
        #[arg(long, default_value_t = 512)]
        max_new_tokens: usize,
    },
    /// Look inside a model file: metadata, every tensor's name, type and shape, or one tensor's values.
    #[command(long_about = INSPECT_HELP)]
    Inspect {
        /// Show one tensor (its name as the file stores it, e.g. blk.0.attn_q.weight): its values
        /// dequantized to f32, row-major, shape outermost first, as stored (no Llama q/k un-permutation).
        #[arg(long)]
        tensor: Option<String>,
        /// Read only the first N values of --tensor (default: all of them).
        #[arg(long, value_name = "N", requires = "tensor")]
        limit: Option<usize>,
        /// Print one JSON document: {"format", "metadata", "tensors"[, "values"]}.
        #[arg(long)]
        json: bool,
        /// Print metadata arrays (and, in the text output, long strings) in full.
        #[arg(long)]
        full_metadata: bool,
    },
}

/// The long help of `ch02 inspect` (its text output, the `--json` contract, the orientation of values).
const INSPECT_HELP: &str = "Look inside a model file: a .gguf, or a Hugging Face folder (config.json + *.safetensors, \
single or sharded), or a known model name (fetched if needed).

Without --tensor: a header (format, file and size, architecture, parameter count), the tensors \
and bytes per storage type, the metadata (GGUF's keys; config.json plus the safetensors \
__metadata__), and one line per tensor (name, type, shape, bytes). In this text output metadata \
arrays show their first 5 items and their length, and strings longer than 80 characters are cut.

With --tensor NAME: that tensor's type, shape and bytes, its first 16 values, and min/max/mean. \
The values are dequantized to f32 from any storage type (F32, F16, BF16, Q4_0 ... Q8_0, Q2_K ... Q6_K, \
the i-quants, TQ1_0, TQ2_0, MXFP4) and flattened row-major with the shape outermost first \
([rows, cols], the Hugging Face orientation: GGUF's dims reversed), in the file's stored order: \
Llama/SmolLM2 GGUF attn_q/attn_k rows stay in llama.cpp's permuted order (the loader un-permutes them). \
An unknown name is an error that lists close names.

--json prints one JSON document on stdout: {\"format\": \"gguf\"|\"safetensors\", \"metadata\": {...}, \
\"tensors\": [{\"name\", \"type\", \"shape\"}, ...]}, plus \"values\": [...] with --tensor. \"type\" is ggml's \
name (Q4_K, F32, BF16, ...). Metadata arrays longer than 64 items (a tokenizer's 150k tokens) become \
{\"array_len\": N, \"first\": [the first 64]} unless --full-metadata. Every f32 (values, metadata floats) \
is written as the shortest decimal that reads back as the same f32; NaN and infinities, which JSON \
lacks, print as null. An embedding table can hold 100M values: --limit N keeps the first N (in the \
text output, min/max/mean then cover those N).";

fn main() -> std::process::ExitCode {
    exit_code(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => demo(&cli.model, cli.device),
        Some(Command::Tokenize {
            text,
            tokenizer,
            json,
        }) => tokenize_command(&cli.model, &text, tokenizer, json),
        Some(Command::Generate {
            prompt,
            prompt_args,
            ids,
            max_new_tokens,
            no_cache,
            ignore_eos,
            json,
        }) => {
            let loaded = load_model_on(&cli.model, cli.device)?;
            let input_ids = prompt_ids(&loaded, prompt.as_deref(), ids.as_deref(), &prompt_args)?;
            let opts = GenerateOptions {
                max_new_tokens,
                stop_ids: if ignore_eos {
                    Vec::new()
                } else {
                    loaded.stop_ids()
                },
                use_cache: !no_cache,
            };
            generate_command(&loaded, &input_ids, &opts, json)
        }
        Some(Command::Chat {
            thinking,
            max_new_tokens,
        }) => {
            let loaded = load_model_on(&cli.model, cli.device)?;
            let stdin = std::io::stdin();
            let options = ChatOptions {
                max_new_tokens,
                thinking: thinking.map(|t| t == Thinking::On),
                show_prompt: stdin.is_terminal(),
            };
            let mut session = ChatSession::new(&loaded, options)?;
            if options.show_prompt {
                eprintln!(
                    "chat with {}: \\clear forgets, \\history shows, \\exit quits",
                    cli.model
                );
            }
            run_chat(&mut session, &mut stdin.lock(), &mut std::io::stdout())?;
            Ok(())
        }
        Some(Command::Inspect {
            tensor,
            limit,
            json,
            full_metadata,
        }) => inspect_command(&cli.model, tensor.as_deref(), limit, json, full_metadata),
    }
}

/// `ch02 inspect`: the summary, or one tensor, as text or one JSON document.
fn inspect_command(
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

fn tokenize_command(model: &str, text: &str, tokenizer: Option<PathBuf>, json: bool) -> Result<()> {
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

fn generate_command(
    loaded: &LoadedModel,
    input_ids: &[u32],
    opts: &GenerateOptions,
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
    let result = generate(
        &loaded.model,
        input_ids,
        opts,
        &mut |l| argmax(l) as u32,
        &mut print_token,
    )?;
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
fn demo(model: &str, device: DeviceArgs) -> Result<()> {
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
    let opts = GenerateOptions {
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
