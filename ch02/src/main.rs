//! `cargo run -p ch02`: load SmolLM2, tokenize, stream a chat answer, and time
//! generation with and without the KV cache. Subcommands `tokenize`, `generate`,
//! `chat`, `inspect`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use ch02::chat::{run_chat, ChatOptions, ChatSession};
use ch02::commands::{demo, generate_command, inspect_command, tokenize_command, GreedyOptions};
use shared::cli::{exit_code, prompt_ids, ModelArgs, PromptArgs, Thinking};

#[derive(Parser)]
#[command(
    name = "ch02",
    about = "Chapter 2: load a pretrained LLM, tokenize text, generate with and without the KV cache",
    long_about = "Without a subcommand, runs the chapter's demo: loads the model (fetching the default one \
                  on first use), shows how a sentence tokenizes, streams an answer to a chat prompt, and \
                  compares generation with and without the KV cache."
)]
struct Cli {
    #[command(flatten)]
    model: ModelArgs,
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
        None => demo(cli.model.name(), cli.model.device),
        Some(Command::Tokenize {
            text,
            tokenizer,
            json,
        }) => tokenize_command(cli.model.name(), &text, tokenizer, json),
        Some(Command::Generate {
            prompt,
            prompt_args,
            ids,
            max_new_tokens,
            no_cache,
            ignore_eos,
            json,
        }) => {
            let loaded = cli.model.load()?;
            let input_ids = prompt_ids(&loaded, prompt.as_deref(), ids.as_deref(), &prompt_args)?;
            let opts = GreedyOptions {
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
            let loaded = cli.model.load()?;
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
                    cli.model.name()
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
        }) => inspect_command(
            cli.model.name(),
            tensor.as_deref(),
            limit,
            json,
            full_metadata,
        ),
    }
}
