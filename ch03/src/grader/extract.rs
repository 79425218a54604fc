//! Answer extraction (book section 3.3): the last `\boxed{…}`, else the last
//! number, else the whole text.

/// What [`extract_final_candidate`] falls back to when a response has no
/// `\boxed{…}` (the book's `fallback` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// The last number in the text, else the full text (the book's default, `"number_then_full"`).
    #[default]
    NumberThenFull,
    /// The last number in the text, else nothing (`"number_only"`).
    NumberOnly,
    /// Nothing: only a boxed answer counts.
    None,
}

const BOXED: &str = "\\boxed";

/// The content of the last `\boxed{…}` in `text` (the book's `get_last_boxed`).
///
/// Whitespace may sit between `\boxed` and `{`; braces nest. `None` when there
/// is no `\boxed`, when the last one is not followed by `{`, or when its braces
/// never close.
pub fn get_last_boxed(text: &str) -> Option<&str> {
    let start = text.rfind(BOXED)? + BOXED.len();
    let rest = &text[start..];
    let open = rest.len() - rest.trim_start().len();
    if !rest[open..].starts_with('{') {
        return None;
    }
    let content_start = start + open + 1;
    let mut depth = 1usize;
    for (offset, byte) in text.as_bytes()[content_start..].iter().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[content_start..content_start + offset]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The final answer candidate of a model response (the book's
/// `extract_final_candidate`): the last boxed expression with surrounding
/// spaces and `$` trimmed, else what `fallback` says.
pub fn extract_final_candidate(text: &str, fallback: Fallback) -> String {
    if text.is_empty() {
        return String::new();
    }
    if let Some(boxed) = get_last_boxed(text.trim()) {
        if !boxed.is_empty() {
            return boxed
                .trim()
                .trim_matches(|c| c == '$' || c == ' ')
                .to_string();
        }
    }
    match fallback {
        Fallback::None => String::new(),
        Fallback::NumberOnly => last_number(text).unwrap_or_default().to_string(),
        Fallback::NumberThenFull => last_number(text).unwrap_or(text).to_string(),
    }
}

/// The last match of the book's `RE_NUMBER`,
/// `-?(?:\d+/\d+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)`, scanning left to right
/// without overlaps as `re.findall` does.
pub fn last_number(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut last = None;
    let mut i = 0;
    while i < bytes.len() {
        match match_number(bytes, i) {
            Some(end) => {
                last = Some(&text[i..end]);
                i = end;
            }
            None => i += 1,
        }
    }
    last
}

/// The end of a `RE_NUMBER` match starting exactly at `start`, if any.
fn match_number(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    let int_end = digits_end(bytes, i);
    if int_end == i {
        return None;
    }
    if bytes.get(int_end) == Some(&b'/') {
        let den_end = digits_end(bytes, int_end + 1);
        if den_end > int_end + 1 {
            return Some(den_end);
        }
    }
    let mut end = int_end;
    if bytes.get(end) == Some(&b'.') {
        let frac_end = digits_end(bytes, end + 1);
        if frac_end > end + 1 {
            end = frac_end;
        }
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_end = digits_end(bytes, j);
        if exp_end > j {
            end = exp_end;
        }
    }
    Some(end)
}

/// The index after the run of ASCII digits starting at `start`.
fn digits_end(bytes: &[u8], start: usize) -> usize {
    start
        + bytes[start.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
}
