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
/// without overlaps as `re.findall` does. `\d` is Python's: any Unicode decimal digit
/// (`is_decimal_digit`), so `"答案是 ٣"` ends in the number `٣` as it does for the book.
pub fn last_number(text: &str) -> Option<&str> {
    let mut last = None;
    let mut i = 0;
    while i < text.len() {
        match match_number(text, i) {
            Some(end) => {
                last = Some(&text[i..end]);
                i = end;
            }
            None => i += text[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    last
}

/// The end of a `RE_NUMBER` match starting exactly at `start` (a char boundary), if any.
fn match_number(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = start;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    let int_end = digits_end(text, i);
    if int_end == i {
        return None;
    }
    if bytes.get(int_end) == Some(&b'/') {
        let den_end = digits_end(text, int_end + 1);
        if den_end > int_end + 1 {
            return Some(den_end);
        }
    }
    let mut end = int_end;
    if bytes.get(end) == Some(&b'.') {
        let frac_end = digits_end(text, end + 1);
        if frac_end > end + 1 {
            end = frac_end;
        }
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_end = digits_end(text, j);
        if exp_end > j {
            end = exp_end;
        }
    }
    Some(end)
}

/// The byte index after the run of decimal digits starting at `start` (a char
/// boundary, or the end of `text`).
fn digits_end(text: &str, start: usize) -> usize {
    let rest = text.get(start..).unwrap_or("");
    start
        + rest
            .chars()
            .take_while(|&c| is_decimal_digit(c))
            .map(char::len_utf8)
            .sum::<usize>()
}

/// The digit zero of each run of Unicode decimal digits (general category `Nd`, what
/// Python's `\d` matches; Unicode 14.0, as Python 3.11). Unicode keeps every `Nd` run
/// as ten contiguous code points, zero to nine, so these 66 zeros define all 660 digits.
const DECIMAL_DIGIT_ZEROS: [u32; 66] = [
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
    0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0,
    0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// Whether `c` is a Unicode decimal digit (`Nd`): Python's `\d`.
pub fn is_decimal_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    let code = u32::from(c);
    let run = DECIMAL_DIGIT_ZEROS.partition_point(|&zero| zero <= code);
    run > 0 && code - DECIMAL_DIGIT_ZEROS[run - 1] < 10
}

#[cfg(test)]
mod digit_tests {
    use super::*;

    #[test]
    fn every_decimal_digit_run_is_ten_digits_and_its_neighbours_are_not() {
        for &zero in &DECIMAL_DIGIT_ZEROS {
            for k in 0..10 {
                let c = char::from_u32(zero + k).unwrap();
                assert!(is_decimal_digit(c), "U+{:04X}", zero + k);
            }
            let before = char::from_u32(zero - 1).unwrap();
            let before_is_a_run_end = DECIMAL_DIGIT_ZEROS.contains(&(zero - 10));
            assert_eq!(
                is_decimal_digit(before),
                before_is_a_run_end,
                "U+{:04X}",
                zero - 1
            );
        }
        for c in ['½', '²', 'Ⅷ', '〇', 'a', ' ', '/', '.'] {
            assert!(!is_decimal_digit(c), "{c:?}");
        }
    }

    #[test]
    fn numbers_in_other_scripts_are_numbers_as_in_python() {
        assert_eq!(last_number("答案是 ٣"), Some("٣"));
        assert_eq!(last_number("x = ١٢/٣ or ４２.５"), Some("４２.５"));
        assert_eq!(last_number("日本語 12, then 7"), Some("7"));
        assert_eq!(last_number("½ and ²"), None);
    }
}
