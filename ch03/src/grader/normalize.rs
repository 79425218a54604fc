//! The book's light string canonicalization (`normalize_text`) and its tuple
//! splitter (`split_into_parts`), section 3.4. Our grader parses answers
//! properly (see `parse`); these two keep the book's display form.

/// Unicode superscripts and their ASCII meaning (the book's `SUPERSCRIPT_MAP`).
const SUPERSCRIPTS: [(char, char); 14] = [
    ('⁰', '0'),
    ('¹', '1'),
    ('²', '2'),
    ('³', '3'),
    ('⁴', '4'),
    ('⁵', '5'),
    ('⁶', '6'),
    ('⁷', '7'),
    ('⁸', '8'),
    ('⁹', '9'),
    ('⁺', '+'),
    ('⁻', '-'),
    ('⁽', '('),
    ('⁾', ')'),
];

/// The ASCII meaning of a unicode superscript character.
pub(crate) fn superscript_value(c: char) -> Option<char> {
    SUPERSCRIPTS.iter().find(|(s, _)| *s == c).map(|&(_, v)| v)
}

/// The book's `normalize_text`: strips chat tokens, a leading multiple-choice
/// label (`c. 3` → `3`), degree marks, a whole-string `\text{…}`, math
/// delimiters, `\left`/`\right` and thin spaces; rewrites `\cdot`, `×`, `·`,
/// `\dfrac`, superscripts, `\sqrt{…}`, `\frac{…}{…}`, `^`, mixed numbers and
/// thousands separators into sympy-like text; drops braces; lowercases.
pub fn normalize_text(text: &str) -> String {
    let mut t = strip_special_tokens(text).trim().to_string();
    if let Some(rest) = strip_choice_label(&t) {
        t = rest.to_string();
    }
    t = strip_degrees(&t);
    if let Some(inner) = t.strip_prefix("\\text{").and_then(|s| s.strip_suffix('}')) {
        if !inner.is_empty() {
            t = inner.to_string();
        }
    }
    for delim in ["\\(", "\\)", "\\[", "\\]"] {
        t = t.replace(delim, "");
    }
    t = strip_command_and_spaces(&t, "\\left");
    t = strip_command_and_spaces(&t, "\\right");
    for (from, to) in [
        ("\\,", ""),
        ("\\!", ""),
        ("\\;", ""),
        ("\\:", ""),
        ("\\cdot", "*"),
        ("·", "*"),
        ("×", "*"),
        ("\\^\\circ", ""),
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("°", ""),
    ] {
        t = t.replace(from, to);
    }
    t = convert_superscripts(&t);
    t = t.replace("\\%", "%").replace(['$', '%'], "");
    t = rewrite_sqrt(&t);
    t = rewrite_frac(&t);
    t = t.replace('^', "**");
    t = join_mixed_numbers(&t);
    t = drop_thousands_commas(&t);
    t.replace(['{', '}'], "").trim().to_lowercase()
}

/// The book's `split_into_parts`: `(a, b)` or `[a, b]` split on commas into
/// trimmed parts when none is empty; otherwise the text itself; nothing for
/// empty text.
pub fn split_into_parts(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let bracketed = text.len() >= 2
        && text.starts_with(['(', '['])
        && text.ends_with([')', ']'])
        && text[1..text.len() - 1].contains(',');
    if bracketed {
        let items: Vec<String> = text[1..text.len() - 1]
            .split(',')
            .map(|p| p.trim().to_string())
            .collect();
        if items.iter().all(|p| !p.is_empty()) {
            return items;
        }
    }
    vec![text.to_string()]
}

/// Removes chat special tokens such as `<|im_end|>` (the book's `RE_SPECIAL`).
fn strip_special_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<|") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('>') else {
            break;
        };
        if end > 1 && after[..end].ends_with('|') {
            out.push_str(&rest[..start]);
            rest = &after[end + 1..];
        } else {
            out.push_str(&rest[..start + 2]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `c. 3` → `3`, `b: 2` → `2` (a single ASCII letter, `.` or `:`, the answer).
fn strip_choice_label(text: &str) -> Option<&str> {
    let mut chars = text.char_indices();
    let (_, first) = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let rest = text[first.len_utf8()..].trim_start();
    let rest = rest.strip_prefix(['.', ':'])?.trim_start();
    (!rest.is_empty() && !rest.contains('\n')).then_some(rest)
}

/// Drops `^{\circ}`, `^\circ` (with optional spaces) and `°`.
fn strip_degrees(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('^') {
        out.push_str(&rest[..pos]);
        let after = rest[pos + 1..].trim_start();
        let braced = after
            .strip_prefix('{')
            .map(str::trim_start)
            .and_then(|s| s.strip_prefix("\\circ"))
            .map(str::trim_start)
            .and_then(|s| s.strip_prefix('}'));
        if let Some(tail) = braced.or_else(|| after.strip_prefix("\\circ")) {
            rest = tail;
        } else {
            out.push('^');
            rest = &rest[pos + 1..];
        }
    }
    out.push_str(rest);
    out.replace('°', "")
}

/// Removes every `command` together with the whitespace after it.
fn strip_command_and_spaces(text: &str, command: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(command) {
        out.push_str(&rest[..pos]);
        rest = rest[pos + command.len()..].trim_start();
    }
    out.push_str(rest);
    out
}

/// `2²` → `2**2`; lone superscripts become their ASCII characters.
fn convert_superscripts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    let mut in_run = false;
    for c in text.chars() {
        let exponent_char = matches!(c, '⁰'..='⁹' | '¹' | '²' | '³' | '⁺' | '⁻');
        match superscript_value(c) {
            Some(v) if exponent_char => {
                let after_base =
                    prev.is_some_and(|p| p.is_ascii_alphanumeric() || ")]}".contains(p));
                if !in_run && after_base {
                    out.push_str("**");
                }
                in_run = in_run || after_base;
                out.push(v);
            }
            Some(v) => {
                in_run = false;
                out.push(v);
            }
            None => {
                in_run = false;
                out.push(c);
            }
        }
        prev = Some(c);
    }
    out
}

/// `\sqrt{x}` → `sqrt(x)` (no nested braces) and `\sqrt x` → `sqrt(x)`.
fn rewrite_sqrt(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("\\sqrt") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 5..];
        let trimmed = after.trim_start();
        if let Some(body) = trimmed.strip_prefix('{') {
            // Without a `}` after this one, no later `\sqrt{` closes either.
            let Some(end) = body.find('}') else {
                rest = &rest[pos..];
                break;
            };
            out.push_str(&format!("sqrt({})", &body[..end]));
            rest = &body[end + 1..];
            continue;
        } else if trimmed.len() < after.len() {
            let end = trimmed
                .find(|c: char| c == '\\' || c.is_whitespace() || c == '{' || c == '}')
                .unwrap_or(trimmed.len());
            if end > 0 {
                out.push_str(&format!("sqrt({})", &trimmed[..end]));
                rest = &trimmed[end..];
                continue;
            }
        }
        out.push_str("\\sqrt");
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `\frac{a}{b}` → `(a)/(b)` (no nested braces) and `\frac a b` → `(a)/(b)`.
fn rewrite_frac(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("\\frac") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 5..];
        if let Some((num, den, tail)) = frac_braced(after).or_else(|| frac_spaced(after)) {
            out.push_str(&format!("({num})/({den})"));
            rest = tail;
        } else {
            out.push_str("\\frac");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `{a}{b}` (optional spaces, no braces inside) → (a, b, rest).
fn frac_braced(text: &str) -> Option<(&str, &str, &str)> {
    let (num, rest) = brace_group(text.trim_start())?;
    let (den, rest) = brace_group(rest.trim_start())?;
    Some((num, den, rest))
}

/// A `{…}` group without inner braces: (content, rest).
fn brace_group(text: &str) -> Option<(&str, &str)> {
    let body = text.strip_prefix('{')?;
    let end = body.find(['{', '}'])?;
    (body[end..].starts_with('}') && end > 0).then(|| (&body[..end], &body[end + 1..]))
}

/// ` a b` (spaces before each, no braces) → (a, b, rest).
fn frac_spaced(text: &str) -> Option<(&str, &str, &str)> {
    let word = |s: &str| -> Option<(usize, usize)> {
        let start = s.len() - s.trim_start().len();
        if start == 0 {
            return None;
        }
        let len = s[start..]
            .find(|c: char| c.is_whitespace() || c == '{' || c == '}')
            .unwrap_or(s.len() - start);
        (len > 0).then_some((start, start + len))
    };
    let (a0, a1) = word(text)?;
    let (b0, b1) = word(&text[a1..])?;
    Some((&text[a0..a1], &text[a1 + b0..a1 + b1], &text[a1 + b1..]))
}

/// `2 1/2` → `2+1/2` (a digit, spaces, then `digits/digits`).
fn join_mixed_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        out.push(chars[i]);
        if chars[i].is_ascii_digit() {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if j > i + 1 && is_slash_fraction_at(&chars, j) {
                out.push('+');
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Whether `digits/digits` starts at `start`.
fn is_slash_fraction_at(chars: &[char], start: usize) -> bool {
    let num = chars[start..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    num > 0
        && chars.get(start + num) == Some(&'/')
        && chars
            .get(start + num + 1)
            .is_some_and(|c| c.is_ascii_digit())
}

/// `1,234` → `1234`: a comma between a digit and exactly three digits.
fn drop_thousands_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let thousands = c == ','
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars[i + 1..]
                .iter()
                .take(3)
                .filter(|c| c.is_ascii_digit())
                .count()
                == 3
            && !chars.get(i + 4).is_some_and(|c| c.is_ascii_digit());
        if !thousands {
            out.push(c);
        }
    }
    out
}
