//! Pre-tokenization: cutting text into the pieces BPE merges within (book ch. 2).
//!
//! Hugging Face and llama.cpp describe these rules as regular expressions. We write each
//! one as a small hand-written scanner instead: at every position the alternatives of
//! the regex are tried in order, each as its own function returning where its match
//! ends, and the first that matches cuts the next piece, exactly as a backtracking
//! regex engine would. Character classes follow Unicode: `\p{L}` letters and `\p{N}`
//! numbers by general category, `\s` the White_Space property.

use unicode_general_category::{get_general_category, GeneralCategory};

/// GPT-2's pattern (Hugging Face `ByteLevel` with `use_regex: true`, llama.cpp `gpt2`).
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Qwen2/Qwen3's pattern (llama.cpp `qwen2`): single digits, case-insensitive contractions,
/// newlines kept apart from other whitespace.
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Llama 3's pattern (llama.cpp `llama-bpe`): Qwen2's with numbers in groups of up to three digits.
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split rules we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// [`GPT2_PATTERN`].
    Gpt2,
    /// SmolLM2 (llama.cpp `smollm`; Hugging Face `Digits(individual_digits)` then
    /// `ByteLevel`): every number character is a piece of its own, the rest is cut by GPT-2's rule.
    SmolLm,
    /// [`QWEN2_PATTERN`].
    Qwen2,
    /// [`LLAMA3_PATTERN`].
    Llama3,
}

impl PreTokenizer {
    /// The rule a Hugging Face `Split` regex stands for, or `None` for a pattern we do not know.
    pub fn from_pattern(pattern: &str) -> Option<Self> {
        match pattern {
            GPT2_PATTERN => Some(Self::Gpt2),
            QWEN2_PATTERN => Some(Self::Qwen2),
            LLAMA3_PATTERN => Some(Self::Llama3),
            _ => None,
        }
    }

    /// Cuts `text` into consecutive pieces that together are exactly `text`.
    pub fn split(self, text: &str) -> Vec<&str> {
        let mut pieces = Vec::new();
        match self {
            Self::Gpt2 => scan(text, gpt2_match, &mut pieces),
            Self::SmolLm => {
                for segment in split_numbers(text) {
                    scan(segment, gpt2_match, &mut pieces);
                }
            }
            Self::Qwen2 => scan(text, |s, i| qwen_match(s, i, 1), &mut pieces),
            Self::Llama3 => scan(text, |s, i| qwen_match(s, i, 3), &mut pieces),
        }
        pieces
    }
}

/// Runs a rule over `text`: `rule(chars, i)` returns where the piece starting at char `i` ends.
fn scan<'a>(text: &'a str, rule: impl Fn(&[char], usize) -> usize, pieces: &mut Vec<&'a str>) {
    let chars: Vec<char> = text.chars().collect();
    let mut start_byte = 0;
    let mut i = 0;
    while i < chars.len() {
        let end = rule(&chars, i).max(i + 1);
        let len: usize = chars[i..end].iter().map(|c| c.len_utf8()).sum();
        pieces.push(&text[start_byte..start_byte + len]);
        start_byte += len;
        i = end;
    }
}

/// Hugging Face's `Digits(individual_digits: true)`: each number character alone, the text
/// between them as one segment.
fn split_numbers(text: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let mut start = 0;
    for (offset, c) in text.char_indices() {
        if is_number(c) {
            if start < offset {
                segments.push(&text[start..offset]);
            }
            segments.push(&text[offset..offset + c.len_utf8()]);
            start = offset + c.len_utf8();
        }
    }
    if start < text.len() {
        segments.push(&text[start..]);
    }
    segments
}

/// [`GPT2_PATTERN`] at char `i`: the end of the first alternative that matches.
fn gpt2_match(s: &[char], i: usize) -> usize {
    contraction(s, i, false)
        .or_else(|| space_then_run(s, i, is_letter))
        .or_else(|| space_then_run(s, i, is_number))
        .or_else(|| space_then_run(s, i, is_other))
        .or_else(|| whitespace_not_before_text(s, i))
        .unwrap_or_else(|| run_end(s, i, is_space))
}

/// [`QWEN2_PATTERN`] (`max_digits` 1) or [`LLAMA3_PATTERN`] (3) at char `i`.
fn qwen_match(s: &[char], i: usize, max_digits: usize) -> usize {
    contraction(s, i, true)
        .or_else(|| prefixed_letters(s, i))
        .or_else(|| digits(s, i, max_digits))
        .or_else(|| space_then_symbols_then_newlines(s, i))
        .or_else(|| whitespace_through_last_newline(s, i))
        .or_else(|| whitespace_not_before_text(s, i))
        .unwrap_or_else(|| run_end(s, i, is_space))
}

/// `'s|'t|'re|'ve|'m|'ll|'d`, case-sensitive or (`(?i:…)`) ASCII case-insensitive. Hugging
/// Face's regex engine (Oniguruma) folds only ASCII here: `'ſ` is not a contraction for it,
/// although Python's `regex` module would fold `ſ` to `s`.
fn contraction(s: &[char], i: usize, ignore_case: bool) -> Option<usize> {
    if s.get(i) != Some(&'\'') {
        return None;
    }
    let lower = |k: usize| {
        s.get(i + k).map(|&c| {
            if ignore_case {
                c.to_ascii_lowercase()
            } else {
                c
            }
        })
    };
    match (lower(1)?, lower(2)) {
        ('s' | 't' | 'm' | 'd', _) => Some(i + 2),
        ('r' | 'v', Some('e')) | ('l', Some('l')) => Some(i + 3),
        _ => None,
    }
}

/// ` ?X+`: an optional ASCII space, then a run of characters of class `X`.
fn space_then_run(s: &[char], i: usize, class: fn(char) -> bool) -> Option<usize> {
    let start = if s[i] == ' ' { i + 1 } else { i };
    let end = run_end(s, start, class);
    (end > start).then_some(end)
}

/// `[^\r\n\p{L}\p{N}]?\p{L}+`: letters, optionally after one character that is neither a
/// line break, a letter nor a number (a space, a punctuation mark, …).
fn prefixed_letters(s: &[char], i: usize) -> Option<usize> {
    let c = s[i];
    let start = if is_letter(c) || is_number(c) || c == '\r' || c == '\n' {
        i
    } else {
        i + 1
    };
    let end = run_end(s, start, is_letter);
    (end > start).then_some(end)
}

/// `\p{N}{1,max}`: up to `max` number characters.
fn digits(s: &[char], i: usize, max: usize) -> Option<usize> {
    let end = run_end(&s[..s.len().min(i + max)], i, is_number);
    (end > i).then_some(end)
}

/// ` ?[^\s\p{L}\p{N}]+[\r\n]*`: symbols, optionally after a space, with the line breaks that follow them.
fn space_then_symbols_then_newlines(s: &[char], i: usize) -> Option<usize> {
    let end = space_then_run(s, i, is_other)?;
    Some(run_end(s, end, |c| c == '\r' || c == '\n'))
}

/// `\s*[\r\n]+`: whitespace up to and including the last line break of the whitespace run.
fn whitespace_through_last_newline(s: &[char], i: usize) -> Option<usize> {
    let end = run_end(s, i, is_space);
    let last_break = s[i..end].iter().rposition(|&c| c == '\r' || c == '\n')?;
    Some(i + last_break + 1)
}

/// `\s+(?!\S)`: a whitespace run that is not followed by text, so a run before a word gives
/// its last character to the word (`"a  b"` → `"a"`, `" "`, `" b"`).
fn whitespace_not_before_text(s: &[char], i: usize) -> Option<usize> {
    let end = run_end(s, i, is_space);
    match end - i {
        0 => None,
        _ if end == s.len() => Some(end),
        1 => None,
        _ => Some(end - 1),
    }
}

/// The end of the run of `class` characters starting at `i` (`i` itself if there is none).
fn run_end(s: &[char], i: usize, class: impl Fn(char) -> bool) -> usize {
    i + s
        .get(i..)
        .map_or(0, |rest| rest.iter().take_while(|&&c| class(c)).count())
}

/// `\p{L}`: a letter (general category Lu, Ll, Lt, Lm or Lo).
fn is_letter(c: char) -> bool {
    use GeneralCategory::*;
    matches!(
        get_general_category(c),
        UppercaseLetter | LowercaseLetter | TitlecaseLetter | ModifierLetter | OtherLetter
    )
}

/// `\p{N}`: a number (general category Nd, Nl or No).
fn is_number(c: char) -> bool {
    use GeneralCategory::*;
    matches!(
        get_general_category(c),
        DecimalNumber | LetterNumber | OtherNumber
    )
}

/// `\s`: Unicode White_Space.
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `[^\s\p{L}\p{N}]`: anything else (punctuation, symbols, marks, controls).
fn is_other(c: char) -> bool {
    !is_space(c) && !is_letter(c) && !is_number(c)
}

#[cfg(test)]
mod tests {
    use super::PreTokenizer::{self, *};

    fn pieces(rule: PreTokenizer, text: &str) -> Vec<&str> {
        rule.split(text)
    }

    #[test]
    fn gpt2_gives_the_last_space_of_a_run_to_the_next_word() {
        assert_eq!(pieces(Gpt2, "  leading"), [" ", " leading"]);
        assert_eq!(pieces(Gpt2, "a  b"), ["a", " ", " b"]);
        assert_eq!(pieces(Gpt2, "end  "), ["end", "  "]);
        assert_eq!(pieces(Gpt2, "a\tb"), ["a", "\t", "b"]);
    }

    #[test]
    fn gpt2_contractions_are_case_sensitive() {
        assert_eq!(pieces(Gpt2, "we'll"), ["we", "'ll"]);
        assert_eq!(pieces(Gpt2, "'LL"), ["'", "LL"]);
        assert_eq!(pieces(Gpt2, "don't"), ["don", "'t"]);
    }

    #[test]
    fn gpt2_groups_numbers_and_symbols() {
        assert_eq!(pieces(Gpt2, "x 123+45"), ["x", " 123", "+", "45"]);
        assert_eq!(pieces(Gpt2, "hi !?"), ["hi", " !?"]);
        assert_eq!(pieces(Gpt2, "x\r\n\ny"), ["x", "\r\n", "\n", "y"]);
    }

    #[test]
    fn smollm_isolates_every_digit() {
        assert_eq!(pieces(SmolLm, "a 123"), ["a", " ", "1", "2", "3"]);
        assert_eq!(pieces(SmolLm, "x2+1"), ["x", "2", "+", "1"]);
    }

    #[test]
    fn qwen2_rules() {
        assert_eq!(pieces(Qwen2, "  leading"), [" ", " leading"]);
        assert_eq!(pieces(Qwen2, "a  b"), ["a", " ", " b"]);
        assert_eq!(pieces(Qwen2, "'LL"), ["'LL"]);
        assert_eq!(pieces(Qwen2, "x\r\n\ny"), ["x", "\r\n\n", "y"]);
        assert_eq!(pieces(Qwen2, "$\\boxed"), ["$\\", "boxed"]);
        assert_eq!(pieces(Qwen2, "(abc) 12"), ["(abc", ")", " ", "1", "2"]);
        assert_eq!(pieces(Qwen2, "end.\n\nNext"), ["end", ".\n\n", "Next"]);
        assert_eq!(pieces(Qwen2, "a \n  b"), ["a", " \n", " ", " b"]);
    }

    #[test]
    fn llama3_groups_digits_by_three() {
        assert_eq!(pieces(Llama3, "12345"), ["123", "45"]);
    }

    #[test]
    fn pieces_cover_the_text() {
        let text = "Héllo,  wörld! 東京 123\r\n\t'S x  ";
        for rule in [Gpt2, SmolLm, Qwen2, Llama3] {
            assert_eq!(pieces(rule, text).concat(), text, "{rule:?}");
        }
    }

    #[test]
    fn patterns_are_recognized() {
        assert_eq!(
            PreTokenizer::from_pattern(super::QWEN2_PATTERN),
            Some(Qwen2)
        );
        assert_eq!(PreTokenizer::from_pattern(super::GPT2_PATTERN), Some(Gpt2));
        assert_eq!(PreTokenizer::from_pattern(r"\s+"), None);
    }
}
