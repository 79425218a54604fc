//! Printing tokens as they are generated: a token may end in the middle of a UTF-8
//! character (an emoji or a Chinese character often spans two or three byte-level tokens),
//! so text is released only once its characters are complete.

use super::codec::Tokenizer;

/// Turns a stream of token ids into text, holding back an incomplete trailing character.
#[derive(Debug)]
pub struct StreamDecoder<'t> {
    tokenizer: &'t Tokenizer,
    /// Bytes received but not yet released: at most an incomplete UTF-8 sequence.
    pending: Vec<u8>,
}

impl<'t> StreamDecoder<'t> {
    /// A decoder with nothing pending.
    pub fn new(tokenizer: &'t Tokenizer) -> Self {
        Self {
            tokenizer,
            pending: Vec::new(),
        }
    }

    /// Adds one token and returns the text it completes (possibly empty). Invalid bytes
    /// become U+FFFD and an id the vocabulary lacks adds nothing, as in [`Tokenizer::decode`].
    pub fn push(&mut self, id: u32) -> String {
        self.pending.extend(self.tokenizer.token_bytes(id));
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(valid) => {
                    text.push_str(valid);
                    self.pending.clear();
                    return text;
                }
                Err(error) => {
                    let valid = error.valid_up_to();
                    text.push_str(
                        std::str::from_utf8(&self.pending[..valid]).expect("checked prefix"),
                    );
                    match error.error_len() {
                        None => {
                            self.pending.drain(..valid);
                            return text;
                        }
                        Some(invalid) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + invalid);
                        }
                    }
                }
            }
        }
    }

    /// Releases whatever is still pending (an incomplete character becomes U+FFFD).
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::{byte_to_char, Entry, Normalizer, PreTokenizer, Spec, TokenKind};

    /// A vocabulary of the 256 bytes only: token id = byte value.
    fn bytes_only() -> Tokenizer {
        let entries = (0..=255u8)
            .map(|byte| Entry {
                text: byte_to_char(byte).to_string(),
                id: u32::from(byte),
                kind: TokenKind::Normal,
            })
            .collect();
        Tokenizer::from_spec(Spec {
            source: "bytes-only".into(),
            entries,
            merges: Vec::new(),
            normalizer: Normalizer::None,
            pre_tokenizer: PreTokenizer::Gpt2,
            ignore_merges: false,
            unk_id: None,
            bos_id: None,
            eos_id: None,
        })
        .unwrap()
    }

    #[test]
    fn characters_are_released_when_complete() {
        let tokenizer = bytes_only();
        let mut stream = StreamDecoder::new(&tokenizer);
        let pieces: Vec<String> = "a東".bytes().map(|b| stream.push(u32::from(b))).collect();
        assert_eq!(pieces, ["a", "", "", "東"]);
        assert_eq!(stream.finish(), "");
    }

    #[test]
    fn invalid_and_unfinished_bytes_become_replacement_characters() {
        let tokenizer = bytes_only();
        let mut stream = StreamDecoder::new(&tokenizer);
        assert_eq!(stream.push(0xE6), "");
        assert_eq!(stream.push(u32::from(b'a')), "\u{FFFD}a");
        assert_eq!(stream.push(0xFF), "\u{FFFD}");
        assert_eq!(stream.push(0xE6), "");
        assert_eq!(stream.finish(), "\u{FFFD}");
        assert_eq!(
            tokenizer.decode(&[0xE6, 97, 0xFF, 0xE6]),
            "\u{FFFD}a\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn ids_beyond_the_vocabulary_add_nothing() {
        let tokenizer = bytes_only();
        let mut stream = StreamDecoder::new(&tokenizer);
        let pieces: Vec<String> = [0xE6, 256, 0x9D, u32::MAX, 0xB1]
            .into_iter()
            .map(|id| stream.push(id))
            .collect();
        assert_eq!(pieces, ["", "", "", "", "東"]);
        assert_eq!(tokenizer.decode(&[97, 256, 98]), "ab");
        assert!(tokenizer.token_bytes(256).is_empty());
    }
}
