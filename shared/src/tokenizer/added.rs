//! Added tokens (`<|im_start|>`, `<think>`, …): found in the text before anything else, so
//! their text never reaches the normalizer, the pre-tokenizer or BPE.

use std::collections::HashMap;

/// A stretch of input: plain text to tokenize, or one added token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text between added tokens.
    Text(&'a str),
    /// An added token's id.
    Token(u32),
}

/// The added tokens of a vocabulary, matched leftmost-longest like Hugging Face's
/// `AddedVocabulary` (and llama.cpp's special-token pass).
#[derive(Debug, Clone, Default)]
pub struct AddedTokens {
    /// First byte of the content → `(content, id)`, longest content first.
    by_first_byte: HashMap<u8, Vec<(String, u32)>>,
}

impl AddedTokens {
    /// Builds the matcher; empty contents are ignored (they would match everywhere).
    pub fn new(tokens: impl IntoIterator<Item = (String, u32)>) -> Self {
        let mut by_first_byte: HashMap<u8, Vec<(String, u32)>> = HashMap::new();
        for (content, id) in tokens {
            if let Some(&first) = content.as_bytes().first() {
                by_first_byte.entry(first).or_default().push((content, id));
            }
        }
        for candidates in by_first_byte.values_mut() {
            candidates.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        }
        Self { by_first_byte }
    }

    /// Cuts `text` at every added token: at the leftmost position where one starts, the longest wins.
    pub fn split<'a>(&self, text: &'a str) -> Vec<Segment<'a>> {
        let mut segments = Vec::new();
        let mut text_start = 0;
        let mut pos = 0;
        while pos < text.len() {
            match self.match_at(text, pos) {
                Some((len, id)) => {
                    if text_start < pos {
                        segments.push(Segment::Text(&text[text_start..pos]));
                    }
                    segments.push(Segment::Token(id));
                    pos += len;
                    text_start = pos;
                }
                None => pos += next_char_len(text, pos),
            }
        }
        if text_start < text.len() {
            segments.push(Segment::Text(&text[text_start..]));
        }
        segments
    }

    /// The longest added token starting at byte `pos`: `(length in bytes, id)`.
    fn match_at(&self, text: &str, pos: usize) -> Option<(usize, u32)> {
        let rest = &text[pos..];
        let candidates = self.by_first_byte.get(rest.as_bytes().first()?)?;
        candidates
            .iter()
            .find(|(content, _)| rest.starts_with(content.as_str()))
            .map(|(content, id)| (content.len(), *id))
    }
}

/// The UTF-8 length of the character at byte `pos` (a char boundary).
fn next_char_len(text: &str, pos: usize) -> usize {
    text[pos..].chars().next().map_or(1, char::len_utf8)
}

#[cfg(test)]
mod tests {
    use super::Segment::{Text, Token};
    use super::*;

    #[test]
    fn leftmost_longest() {
        let added = AddedTokens::new([
            ("<a>".to_string(), 1),
            ("<a><b>".to_string(), 2),
            ("b>".to_string(), 3),
        ]);
        assert_eq!(
            added.split("x<a><b>y<a>é"),
            [Text("x"), Token(2), Text("y"), Token(1), Text("é")]
        );
        assert_eq!(added.split("<<a>"), [Text("<"), Token(1)]);
        assert_eq!(added.split(""), []);
    }
}
