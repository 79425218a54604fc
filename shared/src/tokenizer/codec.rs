//! The [`Tokenizer`]: text → ids (added tokens, normalizer, pre-tokenizer, byte-level BPE)
//! and ids → text (book ch. 2).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

use unicode_normalization::{is_nfc, UnicodeNormalization};

use super::added::{AddedTokens, Segment};
use super::bpe::Merges;
use super::byte_level::{byte_to_char, token_to_bytes};
use super::pretokenize::PreTokenizer;
use crate::{Error, Result};

/// Unicode normalization applied to text before pre-tokenization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalizer {
    /// Text as given (GPT-2, SmolLM2, Llama 3).
    None,
    /// Canonical composition, NFC (Qwen2/Qwen3).
    Nfc,
}

impl Normalizer {
    /// `text` normalized, borrowed when already normal.
    fn apply(self, text: &str) -> Cow<'_, str> {
        match self {
            Self::Nfc if !is_nfc(text) => Cow::Owned(text.nfc().collect()),
            _ => Cow::Borrowed(text),
        }
    }
}

/// One vocabulary entry, as a source lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The token's text: byte-level characters for BPE tokens, plain text for added tokens.
    pub text: String,
    /// The token's id.
    pub id: u32,
    /// What kind of token it is.
    pub kind: TokenKind,
}

/// Whether a token comes from BPE or is an added token matched in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Produced by byte-level BPE; its text is byte-level characters.
    Normal,
    /// An added token (Hugging Face `added_tokens`, GGUF control or user-defined): found
    /// verbatim in the input, decoded as its own text. `special` marks control tokens.
    Added {
        /// Hugging Face `special` / GGUF control.
        special: bool,
    },
}

/// Everything a source (tokenizer.json or GGUF metadata) says, before validation.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The file the vocabulary comes from; every error names it.
    pub source: PathBuf,
    /// All entries, BPE and added; an id listed twice takes the kind of its last entry.
    pub entries: Vec<Entry>,
    /// Merge rules as `(left, right)` token texts, best first.
    pub merges: Vec<(String, String)>,
    /// The normalizer.
    pub normalizer: Normalizer,
    /// The split rule.
    pub pre_tokenizer: PreTokenizer,
    /// Hugging Face `ignore_merges`: a piece that is itself a token is not merged from bytes.
    pub ignore_merges: bool,
    /// The token standing for a byte the vocabulary lacks; without one such bytes are
    /// dropped, as Hugging Face does.
    pub unk_id: Option<u32>,
    /// Beginning-of-sequence token, if the model has one.
    pub bos_id: Option<u32>,
    /// End-of-sequence token, if known.
    pub eos_id: Option<u32>,
}

/// Pieces kept in the encode cache before it is cleared.
const CACHE_LIMIT: usize = 100_000;

/// A byte-level BPE tokenizer (GPT-2 family: SmolLM2, Qwen2/Qwen3, Llama 3).
///
/// Build it with [`Tokenizer::from_tokenizer_json`] or [`Tokenizer::from_gguf_vocab`].
/// [`encode`](Tokenizer::encode) never adds a BOS token.
pub struct Tokenizer {
    /// Id → (text, kind); `None` for ids no entry uses.
    tokens: Vec<Option<(String, TokenKind)>>,
    /// Text → id, for every entry.
    ids: HashMap<String, u32>,
    /// The token of each single byte (the unknown token, or none, where the vocabulary lacks it).
    byte_ids: [Option<u32>; 256],
    merges: Merges,
    added: AddedTokens,
    normalizer: Normalizer,
    pre_tokenizer: PreTokenizer,
    ignore_merges: bool,
    unk_id: Option<u32>,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    /// Piece → ids, so repeated words skip BPE.
    cache: Mutex<HashMap<String, Vec<u32>>>,
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("merges", &self.merges.len())
            .field("normalizer", &self.normalizer)
            .field("pre_tokenizer", &self.pre_tokenizer)
            .field("bos_id", &self.bos_id)
            .field("eos_id", &self.eos_id)
            .finish()
    }
}

impl Tokenizer {
    /// Validates a [`Spec`] and builds the tokenizer: ids must be dense enough, every byte
    /// must have its token, and every merge must join two tokens into a third.
    pub fn from_spec(spec: Spec) -> Result<Self> {
        let bad = |msg: String| Error::format(&spec.source, msg);
        let tokens = id_table(&spec.entries).map_err(bad)?;
        let mut ids = HashMap::with_capacity(spec.entries.len());
        for entry in &spec.entries {
            ids.insert(entry.text.clone(), entry.id);
        }
        let byte_ids = byte_ids(&ids, spec.unk_id).map_err(bad)?;
        let merges = merge_rules(&spec.merges, &ids).map_err(bad)?;
        let added = AddedTokens::new(tokens.iter().enumerate().filter_map(
            |(id, token)| match token {
                Some((text, TokenKind::Added { .. })) => Some((text.clone(), id as u32)),
                _ => None,
            },
        ));
        for (name, id) in [
            ("bos", spec.bos_id),
            ("eos", spec.eos_id),
            ("unknown", spec.unk_id),
        ] {
            if let Some(id) = id.filter(|&id| tokens.get(id as usize).is_none_or(Option::is_none)) {
                return Err(bad(format!(
                    "{name} token id {id} is not in the vocabulary"
                )));
            }
        }
        Ok(Self {
            tokens,
            ids,
            byte_ids,
            merges,
            added,
            normalizer: spec.normalizer,
            pre_tokenizer: spec.pre_tokenizer,
            ignore_merges: spec.ignore_merges,
            unk_id: spec.unk_id,
            bos_id: spec.bos_id,
            eos_id: spec.eos_id,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Text → token ids: added tokens first (leftmost-longest), then each stretch between
    /// them normalized, pre-tokenized and merged. No BOS is added.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        for segment in self.added.split(text) {
            match segment {
                Segment::Token(id) => ids.push(id),
                Segment::Text(text) => self.encode_text(text, &mut ids),
            }
        }
        ids
    }

    /// Token ids → text. Byte sequences that are not valid UTF-8 (a character cut between
    /// tokens) become U+FFFD. An id the vocabulary lacks decodes as nothing, as in Hugging
    /// Face tokenizers (Qwen3's embedding table has 267 rows past its last token).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            self.append_token_bytes(id, &mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The bytes one token stands for (possibly part of a UTF-8 character); see
    /// [`StreamDecoder`](super::StreamDecoder) to print tokens as they arrive.
    /// An id the vocabulary lacks stands for no bytes.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.append_token_bytes(id, &mut bytes);
        bytes
    }

    /// The token's text as the vocabulary stores it (byte-level characters such as `Ġthe`
    /// for BPE tokens), or `None` for an unknown id.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.entry(id).map(|(text, _)| text.as_str())
    }

    /// The id of a token given as the vocabulary stores it (`Ġthe`, `<|im_end|>`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// Whether `id` is an added token marked special (control tokens such as `<|im_end|>`).
    pub fn is_special(&self, id: u32) -> bool {
        matches!(
            self.entry(id),
            Some((_, TokenKind::Added { special: true }))
        )
    }

    /// One more than the largest token id (the model's embedding table may be larger).
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The beginning-of-sequence token, if the source names one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// The end-of-sequence token, if the source names one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// The token that stands for a byte the vocabulary lacks, if any.
    pub fn unk_id(&self) -> Option<u32> {
        self.unk_id
    }

    /// Whether a piece that is itself a token skips merging (Hugging Face `ignore_merges`).
    pub fn ignore_merges(&self) -> bool {
        self.ignore_merges
    }

    /// Every vocabulary entry, by id (ids no entry uses are skipped).
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.tokens.iter().enumerate().filter_map(|(id, token)| {
            token.as_ref().map(|(text, kind)| Entry {
                text: text.clone(),
                id: id as u32,
                kind: *kind,
            })
        })
    }

    /// The merge rules as `(left, right)` token texts, best first (as [`Spec::merges`]).
    pub fn merges(&self) -> Vec<(&str, &str)> {
        let text = |id: u32| self.id_to_token(id).unwrap_or_default();
        self.merges
            .by_rank()
            .into_iter()
            .map(|(left, right, _)| (text(left), text(right)))
            .collect()
    }

    /// The split rule in use.
    pub fn pre_tokenizer(&self) -> PreTokenizer {
        self.pre_tokenizer
    }

    /// The normalizer in use.
    pub fn normalizer(&self) -> Normalizer {
        self.normalizer
    }

    /// The entry of `id`, if any.
    fn entry(&self, id: u32) -> Option<&(String, TokenKind)> {
        self.tokens.get(id as usize)?.as_ref()
    }

    /// Appends the bytes of one token: added tokens as their text, BPE tokens through the
    /// byte table, an id the vocabulary lacks as nothing.
    fn append_token_bytes(&self, id: u32, out: &mut Vec<u8>) {
        match self.entry(id) {
            Some((text, TokenKind::Added { .. })) => out.extend_from_slice(text.as_bytes()),
            Some((text, TokenKind::Normal)) => token_to_bytes(text, out),
            None => {}
        }
    }

    /// Encodes text that holds no added token.
    fn encode_text(&self, text: &str, ids: &mut Vec<u32>) {
        let normalized = self.normalizer.apply(text);
        for piece in self.pre_tokenizer.split(&normalized) {
            self.encode_piece(piece, ids);
        }
    }

    /// Encodes one pre-tokenized piece, through the cache.
    fn encode_piece(&self, piece: &str, ids: &mut Vec<u32>) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cached) = cache.get(piece) {
            ids.extend_from_slice(cached);
            return;
        }
        let merged = self.merge_piece(piece);
        ids.extend_from_slice(&merged);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(piece.to_string(), merged);
    }

    /// BPE on one piece: one token per byte, then the merge rules.
    fn merge_piece(&self, piece: &str) -> Vec<u32> {
        if self.ignore_merges {
            let as_token: String = piece.bytes().map(byte_to_char).collect();
            if let Some(&id) = self.ids.get(&as_token) {
                return vec![id];
            }
        }
        let bytes: Vec<u32> = piece
            .bytes()
            .filter_map(|b| self.byte_ids[usize::from(b)])
            .collect();
        self.merges.apply(&bytes)
    }
}

/// Id → entry table. Ids may leave holes, but no more than there are entries, so a
/// corrupt id cannot make us allocate far beyond the file's own size.
fn id_table(entries: &[Entry]) -> std::result::Result<Vec<Option<(String, TokenKind)>>, String> {
    let limit = entries.len().saturating_mul(2).max(256);
    let mut tokens: Vec<Option<(String, TokenKind)>> = Vec::new();
    for entry in entries {
        let index = entry.id as usize;
        if index >= limit {
            return Err(format!(
                "token {:?} has id {}, far beyond the {} entries listed",
                entry.text,
                entry.id,
                entries.len()
            ));
        }
        if index >= tokens.len() {
            tokens.resize(index + 1, None);
        }
        tokens[index] = Some((entry.text.clone(), entry.kind));
    }
    Ok(tokens)
}

/// The token of each byte value, `unk_id` where the vocabulary has none. Some vocabularies
/// lack bytes that never occur in text (SmolLM2 has no 0xC0, 0xF5..0xFF, …), but every
/// byte-level vocabulary has the printable ASCII characters.
fn byte_ids(
    ids: &HashMap<String, u32>,
    unk_id: Option<u32>,
) -> std::result::Result<[Option<u32>; 256], String> {
    let mut table = [None; 256];
    for (byte, slot) in (0..=255u8).zip(table.iter_mut()) {
        let c = byte_to_char(byte);
        *slot = ids.get(c.encode_utf8(&mut [0; 4]) as &str).copied();
        if slot.is_none() && byte.is_ascii_graphic() {
            return Err(format!(
                "the vocabulary has no token {c:?} for byte 0x{byte:02x}: not a byte-level BPE vocabulary"
            ));
        }
        *slot = slot.or(unk_id);
    }
    Ok(table)
}

/// Resolves merge rules to ids; each side and their concatenation must be tokens.
fn merge_rules(
    merges: &[(String, String)],
    ids: &HashMap<String, u32>,
) -> std::result::Result<Merges, String> {
    let mut rules = Merges::new();
    let mut joined = String::new();
    for (rank, (left, right)) in merges.iter().enumerate() {
        let id = |text: &str| {
            ids.get(text).copied().ok_or_else(|| {
                format!("merge {rank} ({left:?} {right:?}): {text:?} is not in the vocabulary")
            })
        };
        joined.clear();
        joined.push_str(left);
        joined.push_str(right);
        rules.push(id(left)?, id(right)?, id(&joined)?);
    }
    Ok(rules)
}
