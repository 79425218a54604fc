//! Small helpers shared by the chapters' command lines.

use std::fmt::Display;
use std::process::ExitCode;

use crate::device::{Device, GpuDType};
use crate::loader::{load_model_with, LoadOptions, LoadedModel, PromptMode};
use crate::models::{DEFAULT_MODEL, REASONING_MODEL};
use crate::quantize::{QuantizeMode, QuantizeReport};
use crate::{Error, Result};

/// `--model` and the device flags ([`DeviceArgs`]): which model a chapter's command
/// loads and where it runs, flattened into every chapter's command line
/// (`#[command(flatten)]`); global, so they go before or after a subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Model: a known name (smollm2-135m-instruct, qwen3-0.6b-base, qwen3-0.6b, qwen2.5-coder-0.5b-instruct), a .gguf file or a Hugging Face folder (e.g. a `ch05 train` checkpoint, DIR/step-000100).
    /// [default: smollm2-135m-instruct; the demos of chapters 1, 3, 4 and 5: qwen2.5-coder-0.5b-instruct, which can show their lessons]
    #[arg(long, global = true)]
    pub model: Option<String>,
    #[command(flatten, next_help_heading = "Device")]
    pub device: DeviceArgs,
}

impl ModelArgs {
    /// `--model`, else the default model.
    pub fn name(&self) -> &str {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL)
    }

    /// The model a chapter demo runs: `--model`, else the reasoning model ([`demo_model`]).
    pub fn demo_name(&self) -> String {
        demo_model(self.model.as_deref())
    }

    /// Loads [`ModelArgs::name`] onto `--device` ([`load_model_on`]).
    pub fn load(&self) -> Result<LoadedModel> {
        load_model_on(self.name(), self.device)
    }
}

/// `--device`, `--gpu-dtype` and `--quantize`: where a loaded model runs and in which
/// weight format, shared by every chapter's command line (`#[command(flatten)]`); all
/// are global, so they go before or after a subcommand. [`load_model_on`] applies them.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct DeviceArgs {
    /// Where the model runs: cpu, cuda or cuda:N (needs a build with `--features shared/cuda`).
    #[arg(long, global = true, default_value = "cpu", value_parser = parse_device)]
    pub device: Device,
    /// Weight type on the GPU: f32, f16 or bf16 (ignored on the CPU).
    #[arg(long, global = true, default_value = "bf16", value_parser = parse_gpu_dtype)]
    pub gpu_dtype: GpuDType,
    /// Quantize the loaded model's f32/bf16 weight matrices (safetensors, f16/f32 GGUF);
    /// matrices already in a GGUF block format, norms and biases stay as they are.
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    pub quantize: Option<QuantizeMode>,
}

/// `--thinking on|off`: whether Qwen3 thinks (`<think>…</think>`) before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Thinking {
    /// Think first (Qwen3's default).
    On,
    /// Answer at once: the template adds an empty think block.
    Off,
}

/// `--chat`, `--no-chat` and `--thinking`: how a text prompt reaches the model, shared
/// by every command that prompts (`#[command(flatten)]`). [`PromptArgs::mode`] turns
/// them into a [`PromptMode`] for a loaded model.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct PromptArgs {
    /// Wrap prompts as a user message in the model's chat template [default: chat and
    /// reasoning models yes, base models no].
    #[arg(long, conflicts_with = "no_chat")]
    pub chat: bool,
    /// Give prompts as raw text, without the chat template.
    #[arg(long)]
    pub no_chat: bool,
    /// Qwen3: think before answering (on) or answer at once (off) [default: the
    /// template's, on]. Other models' templates ignore it.
    #[arg(long, value_enum, value_name = "on|off")]
    pub thinking: Option<Thinking>,
}

impl PromptArgs {
    /// The prompt mode for `loaded`: the flags where given, else by model kind
    /// ([`LoadedModel::default_prompt_mode`]). `--chat` on a model without a chat
    /// template is an error, and so is `--thinking` with raw prompts.
    pub fn mode(&self, loaded: &LoadedModel) -> Result<PromptMode> {
        let chat = match (self.chat, self.no_chat) {
            (true, _) => true,
            (_, true) => false,
            _ => loaded.default_prompt_mode().chat,
        };
        if chat && loaded.chat_template.is_none() {
            return Err(Error::InvalidArgument(format!(
                "--chat: no chat template is known for {}",
                loaded.location.display()
            )));
        }
        if let (false, Some(_)) = (chat, self.thinking) {
            return Err(Error::InvalidArgument(format!(
                "--thinking goes into the chat template, but prompts to {} are raw text                  (a base model, or --no-chat): add --chat",
                loaded.location.display()
            )));
        }
        Ok(PromptMode {
            chat,
            thinking: self.thinking.map(|t| t == Thinking::On),
        })
    }

    /// Says on stderr how prompts reach `loaded` when no flag chose it.
    pub fn announce(&self, loaded: &LoadedModel, mode: PromptMode) {
        if self.chat || self.no_chat {
            return;
        }
        let how = if mode.chat {
            "in its chat template (a chat model; --no-chat for raw text)"
        } else if loaded.chat_template.is_some() {
            "as raw text (a base model; --chat for its chat template)"
        } else {
            "as raw text (no chat template is known)"
        };
        eprintln!("prompts go to {} {how}", loaded.location.display());
    }
}

/// `--preset`: whose defaults a command takes for the flags not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PresetName {
    /// Ours (what each flag's help shows).
    #[default]
    Ours,
    /// The book's: every default of the book's script for this step.
    Book,
}

impl PresetName {
    /// With `book`: sets the flags of subcommand `sub` that the command line (`matches`)
    /// did not give to the book's defaults, as `book_defaults` says, and prints what it
    /// set on stderr. With `ours`, nothing to do: each flag's own default stands.
    ///
    /// # Panics
    /// If `matches` has no subcommand `sub` (the caller names the one it is running).
    pub fn apply<A>(
        self,
        matches: &clap::ArgMatches,
        sub: &str,
        args: &mut A,
        book_defaults: fn(&mut A, &mut Preset),
    ) {
        if self == PresetName::Ours {
            return;
        }
        let sub_matches = matches
            .subcommand_matches(sub)
            .unwrap_or_else(|| panic!("`{sub}` is the subcommand being run"));
        let mut preset = Preset::new(sub_matches);
        book_defaults(args, &mut preset);
        eprintln!("{}", preset.describe("book"));
    }
}

/// Applies a preset's defaults to the flags the command line did not give, and
/// remembers what it set, so a command can print it at start.
pub struct Preset<'m> {
    matches: &'m clap::ArgMatches,
    applied: Vec<String>,
}

impl<'m> Preset<'m> {
    /// A preset over a (sub)command's parsed `matches`.
    fn new(matches: &'m clap::ArgMatches) -> Preset<'m> {
        Preset {
            matches,
            applied: Vec::new(),
        }
    }

    /// Whether the flag with clap id `id` (the field's name) was on the command line.
    pub fn given(&self, id: &str) -> bool {
        self.matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    }

    /// Sets `field` to `value` unless the flag `id` was given, noting `--flag value`.
    pub fn set<T: std::fmt::Display>(&mut self, id: &str, field: &mut T, value: T) {
        let shown = value.to_string();
        self.set_shown(id, field, value, &shown);
    }

    /// [`Preset::set`] for a `clap::ValueEnum` choice, noted by its flag value.
    pub fn set_choice<T: clap::ValueEnum>(&mut self, id: &str, field: &mut T, value: T) {
        let shown = value
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string());
        self.set_shown(id, field, value, &shown);
    }

    /// [`Preset::set`] for a value without `Display` (a list, an option), noted as `shown`.
    pub fn set_shown<T>(&mut self, id: &str, field: &mut T, value: T, shown: &str) {
        if !self.given(id) {
            self.applied
                .push(format!("--{} {shown}", id.replace('_', "-")));
            *field = value;
        }
    }

    /// Turns on the switch `id` (sets `field` to true) unless the command line gave
    /// it or a flag it conflicts with (`unless`), noting `--flag`.
    pub fn switch(&mut self, id: &str, field: &mut bool, unless: &[&str]) {
        if !self.given(id) && !unless.iter().any(|u| self.given(u)) {
            self.applied.push(format!("--{}", id.replace('_', "-")));
            *field = true;
        }
    }

    /// Notes a setting the preset makes that is not one flag (e.g. a prompt rule).
    pub fn note(&mut self, what: impl Into<String>) {
        self.applied.push(what.into());
    }

    /// One line for stderr: `preset book: --temperature 1 --seed 42 …`.
    fn describe(&self, name: &str) -> String {
        format!(
            "preset {name}: {} (flags given on the command line win)",
            self.applied.join(" ")
        )
    }
}

fn parse_device(s: &str) -> Result<Device> {
    s.parse()
}

fn parse_gpu_dtype(s: &str) -> Result<GpuDType> {
    s.parse()
}

/// Turns a command's result into the process's exit code, printing an error
/// (with its causes, `{:#}`) to stderr.
pub fn exit_code<E: Display>(result: std::result::Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A chapter demo's model: `--model` when given, else the reasoning model, whose
/// lesson shows where the small default model's does not (saying so on stderr, as
/// its first use fetches 491 MB).
pub fn demo_model(model: Option<&str>) -> String {
    model.map_or_else(
        || {
            eprintln!(
                "the demo runs on {REASONING_MODEL}, which can show the lesson (491 MB fetched on \
                 first use; --model {DEFAULT_MODEL} for the small default one)"
            );
            REASONING_MODEL.to_string()
        },
        str::to_string,
    )
}

/// Loads `--model` as [`load_model_verbose`] does, quantizing its matrices as they are
/// read with `--quantize` (its `load_s` includes the conversion), then moves it to
/// `--device`, saying on stderr what was quantized and which GPU it runs on.
pub fn load_model_on(model: &str, device: DeviceArgs) -> Result<LoadedModel> {
    let options = LoadOptions {
        quantize: device.quantize,
    };
    let mut loaded = load_model_verbose_with(model, options)?;
    if let (Some(mode), Some(report)) = (device.quantize, &loaded.quantized) {
        report_quantized(report, mode, device);
    }
    if device.device != Device::Cpu {
        loaded.model = loaded.model.into_device(device.device, device.gpu_dtype)?;
        eprintln!("running on {}", loaded.model.device_description());
    }
    Ok(loaded)
}

/// Prints what `--quantize` did. On a GPU the blocks are expanded to `--gpu-dtype` at
/// upload: a note says that this keeps the quantized values but saves neither memory
/// nor time there.
fn report_quantized(report: &QuantizeReport, mode: QuantizeMode, device: DeviceArgs) {
    for line in report.lines(mode) {
        eprintln!("{line}");
    }
    if device.device != Device::Cpu && report.quantized > 0 {
        eprintln!(
            "note: on {} the {} weights are expanded to {} at upload: the quantized values, \
             without the CPU's memory and speed gain",
            device.device,
            mode.dtype().name(),
            device.gpu_dtype
        );
    }
}

/// Loads `--model`, saying on stderr what is loading and, once loaded, what it is.
pub fn load_model_verbose(model: &str) -> Result<LoadedModel> {
    load_model_verbose_with(model, LoadOptions::default())
}

/// [`load_model_verbose`] with load `options`.
fn load_model_verbose_with(model: &str, options: LoadOptions) -> Result<LoadedModel> {
    eprintln!("loading {model} ...");
    let loaded = load_model_with(model, options)?;
    let c = &loaded.model.config;
    eprintln!(
        "loaded {} in {:.2} s: {} family, {} layers, hidden size {}, {} heads ({} key/value), vocabulary {}",
        loaded.location.display(),
        loaded.load_s,
        c.family.name(),
        c.num_layers,
        c.hidden_size,
        c.num_heads,
        c.num_kv_heads,
        c.vocab_size
    );
    Ok(loaded)
}

/// The prompt's token ids from `--ids 1,2,3` (used as given), or from `--prompt TEXT`
/// given as `prompt_args` say ([`PromptArgs::mode`]: by default in the chat template
/// for chat models, raw for base models).
pub fn prompt_ids(
    loaded: &LoadedModel,
    prompt: Option<&str>,
    ids: Option<&str>,
    prompt_args: &PromptArgs,
) -> Result<Vec<u32>> {
    match (prompt, ids) {
        (_, Some(_)) if prompt_args.chat || prompt_args.thinking.is_some() => Err(Error::InvalidArgument(
            "--chat and --thinking shape a --prompt TEXT in the chat template; --ids are used as given, so drop one of them".into(),
        )),
        (_, Some(ids)) => parse_ids(ids),
        (Some(prompt), None) => {
            let mode = prompt_args.mode(loaded)?;
            prompt_args.announce(loaded, mode);
            loaded.encode_prompt_as(prompt, mode)
        }
        (None, None) => Err(Error::InvalidArgument(
            "give --prompt TEXT or --ids 1,2,3".into(),
        )),
    }
}

/// Parses a `--ids 1,2,3` argument into token ids.
pub fn parse_ids(text: &str) -> Result<Vec<u32>> {
    if text.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "--ids is empty: give at least one token id".into(),
        ));
    }
    text.split(',')
        .map(str::trim)
        .enumerate()
        .map(|(i, s)| match s {
            "" => Err(Error::InvalidArgument(format!(
                "--ids: entry {} is empty (expected e.g. 1,2,3)",
                i + 1
            ))),
            _ => s.parse::<u32>().map_err(|_| {
                Error::InvalidArgument(format!(
                    "--ids: `{s}` is not a token id (expected e.g. 1,2,3)"
                ))
            }),
        })
        .collect()
}

/// A number flag's value parser: a finite number ≥ 0 (NaN and infinities refused).
pub fn non_negative_f32(text: &str) -> std::result::Result<f32, String> {
    let value = finite_f32(text)?;
    match value >= 0.0 {
        true => Ok(value),
        false => Err(format!("`{text}` is negative; give a number ≥ 0")),
    }
}

/// A number flag's value parser: a finite number > 0.
pub fn positive_f32(text: &str) -> std::result::Result<f32, String> {
    let value = finite_f32(text)?;
    match value > 0.0 {
        true => Ok(value),
        false => Err(format!("`{text}` is not positive; give a number > 0")),
    }
}

/// A probability flag's value parser (top-p): a number in (0, 1].
pub fn probability_f32(text: &str) -> std::result::Result<f32, String> {
    let value = finite_f32(text)?;
    match value > 0.0 && value <= 1.0 {
        true => Ok(value),
        false => Err(format!("`{text}` is outside (0, 1]; give e.g. 0.9")),
    }
}

/// A finite `f32`, or a message saying why not.
fn finite_f32(text: &str) -> std::result::Result<f32, String> {
    let value: f32 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    match value.is_finite() {
        true => Ok(value),
        false => Err(format!("`{text}` is not a finite number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ids_accepts_spaces_and_rejects_words_and_empty() {
        assert_eq!(parse_ids("1, 2,3").unwrap(), vec![1, 2, 3]);
        assert!(parse_ids("1,x").unwrap_err().to_string().contains("`x`"));
        assert!(parse_ids(" ").unwrap_err().to_string().contains("empty"));
        for text in ["1,,2", "1,2,", ",1", " , "] {
            let error = parse_ids(text).unwrap_err().to_string();
            assert!(error.contains("is empty"), "{text}: {error}");
        }
    }

    #[test]
    fn number_flags_refuse_nan_infinities_and_out_of_range() {
        assert_eq!(non_negative_f32("0").unwrap(), 0.0);
        assert_eq!(positive_f32("2e-4").unwrap(), 2e-4);
        assert_eq!(probability_f32("1").unwrap(), 1.0);
        for text in ["NaN", "nan", "inf", "-inf", "1e40"] {
            for parse in [non_negative_f32, positive_f32, probability_f32] {
                let error = parse(text).unwrap_err();
                assert!(error.contains("finite"), "{text}: {error}");
            }
        }
        assert!(non_negative_f32("-0.1").unwrap_err().contains("≥ 0"));
        assert!(positive_f32("0").unwrap_err().contains("> 0"));
        assert!(probability_f32("0").unwrap_err().contains("(0, 1]"));
        assert!(probability_f32("1.5").unwrap_err().contains("(0, 1]"));
        assert!(positive_f32("x").unwrap_err().contains("not a number"));
    }
}
