//! The readers' fuzzer, shared by the CI test (`tests/fuzz_readers.rs`, a fixed seed and
//! case budget) and the longer campaign (`examples/fuzz.rs`, `--minutes N`).
//!
//! Each case takes a valid input (a fixture file or a small built one), applies a few
//! mutations drawn by proptest — byte-level (flips, interesting 64-bit values written
//! over counts and offsets, truncation, insertion, deletion, duplication) or, for JSON,
//! structure-aware (a value replaced by an extreme or mistyped one, a key removed) — and
//! runs the reader on it. Any result is fine; what must not happen is a panic, an
//! allocation out of proportion to the input (a counting global allocator measures each
//! case's peak), or a slow case.

#![allow(dead_code)] // the test and the example use different parts

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{json, Value};
use shared::config::ModelConfig;
use shared::io::{dequantize_to_vec, GgufFile, SafeTensors};
use shared::loader::{load_hf_model, load_model_files};
use shared::models::ModelFiles;
use shared::tokenizer::{byte_to_char, Tokenizer};

/// The global allocator of the fuzz binaries: the system's, counting each thread's live
/// and peak bytes.
pub struct CountingAlloc;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// A single request above this aborts the binary (the system might grant it lazily).
const HARD_LIMIT: usize = 4 << 30;

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

/// Counts a granted request of `size` bytes (a null `ptr` was refused: nothing to count).
fn counted(ptr: *mut u8, size: usize) -> *mut u8 {
    if !ptr.is_null() {
        note(size as isize);
    }
    ptr
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match layout.size() > HARD_LIMIT {
            true => std::ptr::null_mut(),
            false => counted(System.alloc(layout), layout.size()),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match layout.size() > HARD_LIMIT {
            true => std::ptr::null_mut(),
            false => counted(System.alloc_zeroed(layout), layout.size()),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_LIMIT {
            return std::ptr::null_mut();
        }
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// Runs `f` and returns its result and the most bytes this thread held at once during
/// it, beyond what it held before.
fn peak_bytes<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let result = f();
    (result, (PEAK.with(Cell::get) - base).max(0) as usize)
}

/// What a reader is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `GgufFile::open`, every tensor dequantized, the config, the vocabulary, the model.
    Gguf,
    /// `SafeTensors::open` and every tensor read as f32.
    Safetensors,
    /// `config.json` beside a real tiny model's weights, loaded as a model.
    Config,
    /// `tokenizer.json` loaded, then text encoded and ids decoded.
    Tokenizer,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 4] = [
        Target::Gguf,
        Target::Safetensors,
        Target::Config,
        Target::Tokenizer,
    ];

    /// The name `--target` takes.
    pub fn name(self) -> &'static str {
        match self {
            Target::Gguf => "gguf",
            Target::Safetensors => "safetensors",
            Target::Config => "config",
            Target::Tokenizer => "tokenizer",
        }
    }

    /// The file name a case is written to.
    fn file_name(self) -> &'static str {
        match self {
            Target::Gguf => "fuzz.gguf",
            Target::Safetensors => "model.safetensors",
            Target::Config => "config.json",
            Target::Tokenizer => "tokenizer.json",
        }
    }

    /// Whether the input is JSON (and gets structure-aware mutations too).
    fn is_json(self) -> bool {
        matches!(self, Target::Config | Target::Tokenizer)
    }
}

/// One mutation, its positions drawn as fractions of the input's length.
#[derive(Debug, Clone)]
enum Mutation {
    FlipByte(f64, u8),
    WriteU64(f64, u64),
    WriteU32(f64, u32),
    Truncate(f64),
    Insert(f64, Vec<u8>),
    Delete(f64, f64),
    Duplicate(f64, f64),
    /// Replace the JSON value at the n-th node (in document order) with a chosen one.
    JsonReplace(usize, usize),
    /// Remove the n-th object key.
    JsonRemove(usize),
}

/// Values that make counts, lengths and offsets lie.
const INTERESTING_U64: [u64; 10] = [
    0,
    1,
    255,
    65_535,
    1 << 24,
    (1 << 31) - 1,
    1 << 32,
    1 << 40,
    u64::MAX / 2,
    u64::MAX,
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), any::<u8>()).prop_map(|(p, b)| Mutation::FlipByte(p, b.max(1))),
        (at.clone(), prop::sample::select(&INTERESTING_U64[..]))
            .prop_map(|(p, v)| Mutation::WriteU64(p, v)),
        (at.clone(), any::<u32>()).prop_map(|(p, v)| Mutation::WriteU32(p, v)),
        at.clone().prop_map(Mutation::Truncate),
        (at.clone(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (at.clone(), 0.0..0.2f64).prop_map(|(p, l)| Mutation::Delete(p, l)),
        (at, 0.0..0.2f64).prop_map(|(p, l)| Mutation::Duplicate(p, l)),
        (0..4096usize, 0..REPLACEMENTS).prop_map(|(n, v)| Mutation::JsonReplace(n, v)),
        (0..4096usize).prop_map(Mutation::JsonRemove),
    ]
}

/// Applies `mutations` to `bytes` (JSON ones only to inputs that parse as JSON).
fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let index = |p: f64, len: usize| ((p * len as f64) as usize).min(len.saturating_sub(1));
    for m in mutations {
        let len = out.len();
        match m {
            Mutation::FlipByte(p, b) if len > 0 => out[index(*p, len)] ^= b,
            Mutation::WriteU64(p, v) => write_at(&mut out, index(*p, len), &v.to_le_bytes()),
            Mutation::WriteU32(p, v) => write_at(&mut out, index(*p, len), &v.to_le_bytes()),
            Mutation::Truncate(p) => out.truncate(index(*p, len)),
            Mutation::Insert(p, b) => {
                let i = index(*p, len + 1);
                out.splice(i..i, b.iter().copied());
            }
            Mutation::Delete(p, l) => {
                let i = index(*p, len);
                let end = (i + (l * len as f64) as usize).min(len);
                out.drain(i..end);
            }
            Mutation::Duplicate(p, l) => {
                let i = index(*p, len);
                let end = (i + (l * len as f64) as usize).min(len);
                let copy = out[i..end].to_vec();
                out.splice(end..end, copy);
            }
            Mutation::JsonReplace(n, v) => edit_json(&mut out, |json| {
                if let Some(node) = nth_node(json, *n) {
                    *node = replacement(*v);
                }
            }),
            Mutation::JsonRemove(n) => edit_json(&mut out, |json| remove_nth_key(json, *n)),
            Mutation::FlipByte(..) => {}
        }
    }
    out
}

fn write_at(out: &mut [u8], at: usize, bytes: &[u8]) {
    let end = (at + bytes.len()).min(out.len());
    out[at..end].copy_from_slice(&bytes[..end - at]);
}

/// Parses `bytes` as JSON, edits it and writes it back; leaves non-JSON alone.
fn edit_json(bytes: &mut Vec<u8>, edit: impl FnOnce(&mut Value)) {
    if let Ok(mut json) = serde_json::from_slice::<Value>(bytes) {
        edit(&mut json);
        *bytes = json.to_string().into_bytes();
    }
}

/// The n-th value in document order (modulo the count), the root first.
fn nth_node(json: &mut Value, n: usize) -> Option<&mut Value> {
    let count = count_nodes(json);
    let mut left = n % count;
    find_node(json, &mut left)
}

fn count_nodes(json: &Value) -> usize {
    1 + match json {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn find_node<'a>(json: &'a mut Value, left: &mut usize) -> Option<&'a mut Value> {
    if *left == 0 {
        return Some(json);
    }
    *left -= 1;
    match json {
        Value::Array(items) => items.iter_mut().find_map(|v| find_node(v, left)),
        Value::Object(map) => map.values_mut().find_map(|v| find_node(v, left)),
        _ => None,
    }
}

fn remove_nth_key(json: &mut Value, n: usize) {
    let mut keys = Vec::new();
    collect_objects(json, &mut keys);
    if keys.is_empty() {
        return;
    }
    let (path, key) = keys.swap_remove(n % keys.len());
    if let Some(Value::Object(map)) = json.pointer_mut(&path) {
        map.remove(&key);
    }
}

/// `(JSON pointer of an object, one of its keys)` for every key in the document.
fn collect_objects(json: &Value, out: &mut Vec<(String, String)>) {
    fn walk(json: &Value, path: String, out: &mut Vec<(String, String)>) {
        match json {
            Value::Object(map) => {
                for (k, v) in map {
                    out.push((path.clone(), k.clone()));
                    let escaped = k.replace('~', "~0").replace('/', "~1");
                    walk(v, format!("{path}/{escaped}"), out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    walk(json, String::new(), out);
}

const REPLACEMENTS: usize = 16;

/// Extreme, mistyped and nested values.
fn replacement(choice: usize) -> Value {
    match choice % REPLACEMENTS {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(16_777_216),
        3 => json!(u64::MAX),
        4 => json!(1e300),
        5 => json!(-1e-300),
        6 => json!(0.5),
        7 => json!(""),
        8 => json!("x".repeat(1000)),
        9 => Value::Null,
        10 => json!(true),
        11 => json!([]),
        12 => json!({}),
        13 => json!([[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]),
        14 => json!("(?:[a-z]+)*$|\\p{L}{1,99999}"),
        _ => json!([0, -1, "a", null]),
    }
}

/// The valid inputs mutations start from.
pub fn seeds(target: Target) -> Vec<Vec<u8>> {
    let read = |rel: &str| shared::fixtures::fixture(rel).map(|p| std::fs::read(p).unwrap());
    match target {
        Target::Gguf => ["gguf/quants.gguf", "gguf/quants_all.gguf"]
            .iter()
            .filter_map(|p| read(p))
            .collect(),
        Target::Safetensors => [
            "tiny/qwen3-tiny/bf16/model.safetensors",
            "tiny/qwen2-tiny/bf16/model.safetensors",
        ]
        .iter()
        .filter_map(|p| read(p))
        .collect(),
        Target::Config => ["tiny/qwen3-tiny/config.json", "tiny/qwen2-tiny/config.json"]
            .iter()
            .filter_map(|p| read(p))
            .collect(),
        Target::Tokenizer => vec![tiny_tokenizer_json().to_string().into_bytes()],
    }
}

/// A tiny byte-level BPE tokenizer.json: the 256 byte tokens, two merges, an added token.
fn tiny_tokenizer_json() -> Value {
    let mut vocab = serde_json::Map::new();
    for byte in 0..=255u8 {
        vocab.insert(byte_to_char(byte).to_string(), json!(byte));
    }
    vocab.insert("ab".into(), json!(256));
    vocab.insert("abc".into(), json!(257));
    json!({
        "version": "1.0",
        "added_tokens": [{"id": 258, "content": "<|end|>", "special": true}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+"},
             "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}
        ]},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": ["a b", "ab c"]}
    })
}

/// The real tiny model's weights, written beside each mutated config.json.
fn tiny_weights() -> Option<Vec<u8>> {
    let path = shared::fixtures::fixture("tiny/qwen3-tiny/model.safetensors")?;
    Some(std::fs::read(path).unwrap())
}

/// Runs the reader of `target` on the file at `path` (written already); errors are fine.
fn exercise(target: Target, path: &Path) {
    match target {
        Target::Gguf => {
            if let Ok(file) = GgufFile::open(path) {
                for info in file.tensors() {
                    if let Ok(bytes) = file.tensor_bytes(&info.name) {
                        let _ = dequantize_to_vec(info.dtype, bytes, info.n_elements());
                    }
                }
                let _ = ModelConfig::from_gguf(&file);
                let _ = Tokenizer::from_gguf(&file);
            }
            let _ = load_model_files(&ModelFiles::Gguf(path.to_path_buf()));
        }
        Target::Safetensors => {
            if let Ok(file) = SafeTensors::open(path) {
                let names: Vec<String> = file.names().map(str::to_owned).collect();
                for name in names {
                    let _ = file.tensor_f32(&name);
                }
            }
        }
        Target::Config => {
            let _ = load_hf_model(path.parent().unwrap());
        }
        Target::Tokenizer => {
            if let Ok(tokenizer) = Tokenizer::from_tokenizer_json(path) {
                let ids = tokenizer.encode("abc ab 12 Ünïcödé <|end|> \u{1F600}");
                let _ = tokenizer.decode(&ids);
                let _ = tokenizer.decode(&[0, 255, 256, 257, 258, 259, u32::MAX]);
            }
        }
    }
}

/// The limits every case must keep.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most bytes a case may hold at once: this plus `per_input_byte` × the input size.
    pub base_bytes: usize,
    /// Allowed peak bytes per byte of input (a reader may hold a few copies of it).
    pub per_input_byte: usize,
    /// The longest a case may take.
    pub time: Duration,
}

/// Limits for CI's debug-profile test and the release campaign alike.
pub const LIMITS: Limits = Limits {
    base_bytes: 64 << 20,
    per_input_byte: 32,
    time: Duration::from_secs(5),
};

/// What a campaign did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Cases run.
    pub cases: u32,
    /// The largest peak allocation of a case, in bytes.
    pub max_peak: usize,
    /// The slowest case.
    pub max_time: Duration,
}

/// Runs `cases` mutated inputs for `target` with proptest's runner from `seed`;
/// returns what it saw, or the first failure (after proptest shrank it).
pub fn fuzz(target: Target, cases: u32, seed: u64, limits: Limits) -> Result<Stats, String> {
    let seeds = seeds(target);
    if seeds.is_empty() {
        eprintln!("skipping the {} fuzzer: no seed fixture", target.name());
        return Ok(Stats::default());
    }
    let dir = temp_dir(target);
    if target == Target::Config {
        match tiny_weights() {
            Some(weights) => std::fs::write(dir.join("model.safetensors"), weights).unwrap(),
            None => return Ok(Stats::default()),
        }
    }
    let path = dir.join(target.file_name());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let stats = std::cell::RefCell::new(Stats::default());
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..6));
    let result = runner.run(&strategy, |(which, mutations)| {
        let input = mutate(&seeds[which], &mutations);
        std::fs::write(&path, &input).unwrap();
        let start = Instant::now();
        let ((), peak) = peak_bytes(|| exercise(target, &path));
        let time = start.elapsed();
        let mut s = stats.borrow_mut();
        s.cases += 1;
        s.max_peak = s.max_peak.max(peak);
        s.max_time = s.max_time.max(time);
        let allowed = limits.base_bytes + limits.per_input_byte * input.len();
        if peak > allowed {
            return Err(TestCaseError::fail(format!(
                "{} bytes held at once for a {}-byte input (limit {allowed})",
                peak,
                input.len()
            )));
        }
        if time > limits.time {
            return Err(TestCaseError::fail(format!("took {time:?}")));
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(|e| format!("{} fuzzer, seed {seed}: {e}", target.name()))?;
    Ok(stats.into_inner())
}

fn temp_dir(target: Target) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rfs-fuzz-{}-{}", target.name(), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
