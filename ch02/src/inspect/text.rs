//! The human-readable output of `ch02 inspect`: a summary with tables, or one tensor.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Map, Value};
use shared::io::DType;

use super::{ModelFile, TensorEntry};

/// Array items shown before `…` (unless in full).
const TEXT_ARRAY_ITEMS: usize = 5;
/// Strings longer than this many characters are cut (unless in full).
const TEXT_STRING_CHARS: usize = 80;
/// Values shown by [`format_tensor`].
const TEXT_VALUES: usize = 16;
/// Values per line in [`format_tensor`].
const VALUES_PER_LINE: usize = 8;

/// The readable summary of `file`: a header (file, format, size, architecture,
/// parameters), the tensors per type with their bytes, the metadata (long arrays and
/// strings cut unless `full_metadata`), and one line per tensor.
pub fn format_summary(file: &ModelFile, full_metadata: bool) -> String {
    [
        header(file),
        type_table(file.tensors()),
        metadata_list(&file.metadata(), full_metadata),
        tensor_table(file.tensors()),
    ]
    .join("\n")
}

/// One tensor of `file`: its type, shape and size, then the first 16 of
/// `values` (as [`ModelFile::tensor_values`] read them) and their min, max and mean.
pub fn format_tensor(file: &ModelFile, entry: &TensorEntry, values: &[f32]) -> String {
    let n = entry.n_elements();
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        let _ = writeln!(out, "{label:<12}{text}");
    };
    line("tensor", entry.name.clone());
    line("file", file.path().display().to_string());
    line("type", type_description(entry.dtype));
    line(
        "shape",
        format!("{:?} ({} values)", entry.shape, grouped(n)),
    );
    line("bytes", grouped(entry.n_bytes));
    let read = if values.len() == n {
        format!("all {}", grouped(n))
    } else {
        format!("the first {} (--limit)", grouped(values.len()))
    };
    line("values", format!("{read}, row-major, as stored"));
    if let Some((min, max, mean)) = min_max_mean(values) {
        line("min", min.to_string());
        line("max", max.to_string());
        line("mean", (mean as f32).to_string());
        out += &format!("first {}:\n", values.len().min(TEXT_VALUES));
        out += &value_grid(&values[..values.len().min(TEXT_VALUES)]);
    }
    out
}

/// `Q4_K: blocks of 256 values in 144 bytes (4.5 bits per value)`, or `F32: 4 bytes per value`.
fn type_description(dtype: DType) -> String {
    let (len, bytes) = (dtype.block_len(), dtype.block_bytes());
    if len == 1 {
        return format!("{}: {bytes} bytes per value", dtype.name());
    }
    let bits = (bytes * 8) as f64 / len as f64;
    format!(
        "{}: blocks of {len} values in {bytes} bytes ({bits} bits per value)",
        dtype.name()
    )
}

/// Min, max (NaN ignored) and mean of `values`; `None` when there are none.
fn min_max_mean(values: &[f32]) -> Option<(f32, f32, f64)> {
    if values.is_empty() {
        return None;
    }
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
    Some((min, max, mean))
}

/// `values` right-aligned in columns, [`VALUES_PER_LINE`] a line, each printed exactly.
fn value_grid(values: &[f32]) -> String {
    let texts: Vec<String> = values.iter().map(f32::to_string).collect();
    let width = texts.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for row in texts.chunks(VALUES_PER_LINE) {
        let cells: Vec<String> = row.iter().map(|t| format!("{t:>width$}")).collect();
        out += &format!("  {}\n", cells.join("  "));
    }
    out
}

/// File, format, size, architecture, parameter and tensor counts.
fn header(file: &ModelFile) -> String {
    let architecture = file
        .architecture()
        .unwrap_or_else(|| "(not in the metadata)".into());
    let rows = [
        ("file", file.path().display().to_string()),
        ("format", file.format_description()),
        ("size", format!("{} bytes", grouped(file.file_bytes()))),
        ("architecture", architecture),
        ("parameters", grouped(file.parameter_count())),
        ("tensors", grouped(file.tensors().len())),
    ];
    rows.iter()
        .map(|(label, text)| format!("{label:<14}{text}\n"))
        .collect()
}

/// Tensors, parameters and bytes per storage type (in ggml id order), with a total.
fn type_table(tensors: &[TensorEntry]) -> String {
    let mut per_type: BTreeMap<u32, (DType, [usize; 3])> = BTreeMap::new();
    for t in tensors {
        let (_, sums) = per_type
            .entry(t.dtype.ggml_id())
            .or_insert((t.dtype, [0; 3]));
        add(sums, [1, t.n_elements(), t.n_bytes]);
    }
    let mut total = [0; 3];
    let mut rows = vec![["type", "tensors", "parameters", "bytes"].map(String::from)];
    for (dtype, sums) in per_type.values() {
        add(&mut total, *sums);
        rows.push(count_row(dtype.name(), sums));
    }
    rows.push(count_row("total", &total));
    table(&rows, &[false, true, true, true])
}

/// Adds `more` into `sums`, element by element.
fn add(sums: &mut [usize; 3], more: [usize; 3]) {
    for (s, m) in sums.iter_mut().zip(more) {
        *s += m;
    }
}

/// A row of [`type_table`].
fn count_row(label: &str, sums: &[usize; 3]) -> [String; 4] {
    [
        label.to_string(),
        grouped(sums[0]),
        grouped(sums[1]),
        grouped(sums[2]),
    ]
}

/// One line per metadata key: `key  value`, cut unless `full`.
fn metadata_list(metadata: &Map<String, Value>, full: bool) -> String {
    let width = metadata.keys().map(String::len).max().unwrap_or(0);
    let mut out = format!("metadata ({} keys)\n", metadata.len());
    for (key, value) in metadata {
        out += &format!("  {key:<width$}  {}\n", text_value(value, full));
    }
    out
}

/// A metadata value as compact JSON; unless `full`, arrays show their first
/// [`TEXT_ARRAY_ITEMS`] items and their length, and long strings are cut with their length.
fn text_value(value: &Value, full: bool) -> String {
    match value {
        Value::Array(items) if !full && items.len() > TEXT_ARRAY_ITEMS => {
            let shown: Vec<String> = items[..TEXT_ARRAY_ITEMS]
                .iter()
                .map(|v| text_value(v, full))
                .collect();
            format!("[{}, …] ({} items)", shown.join(", "), grouped(items.len()))
        }
        Value::Array(items) => {
            let shown: Vec<String> = items.iter().map(|v| text_value(v, full)).collect();
            format!("[{}]", shown.join(", "))
        }
        Value::String(s) if !full && s.chars().count() > TEXT_STRING_CHARS => {
            let head: String = s.chars().take(TEXT_STRING_CHARS).collect();
            format!("{}… ({} chars)", Value::String(head), s.chars().count())
        }
        other => other.to_string(),
    }
}

/// One line per tensor: name, type, shape, bytes.
fn tensor_table(tensors: &[TensorEntry]) -> String {
    let mut rows = vec![["tensor", "type", "shape", "bytes"].map(String::from)];
    for t in tensors {
        rows.push([
            t.name.clone(),
            t.dtype.name().to_string(),
            format!("{:?}", t.shape),
            grouped(t.n_bytes),
        ]);
    }
    table(&rows, &[false, false, false, true])
}

/// `rows` (the first one a header) in aligned columns, right-aligned where `right` says.
fn table<const N: usize>(rows: &[[String; N]], right: &[bool; N]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths.iter().zip(right))
            .map(|(cell, (&w, &r))| match r {
                true => format!("{cell:>w$}"),
                false => format!("{cell:<w$}"),
            })
            .collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    out
}

/// A non-negative integer with thousands separators: `98,362,432`.
fn grouped(n: impl std::fmt::Display) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(98_362_432), "98,362,432");
    }

    #[test]
    fn long_values_are_cut_unless_full() {
        let tokens = json!(["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(
            text_value(&tokens, false),
            r#"["a", "b", "c", "d", "e", …] (7 items)"#
        );
        assert_eq!(
            text_value(&tokens, true),
            r#"["a", "b", "c", "d", "e", "f", "g"]"#
        );
        let template = json!("x\n".repeat(100));
        let cut = text_value(&template, false);
        assert!(cut.ends_with("… (200 chars)"), "{cut}");
        assert_eq!(cut.matches("\\n").count(), 40);
    }

    #[test]
    fn min_and_max_skip_nan() {
        assert_eq!(min_max_mean(&[]), None);
        assert_eq!(
            min_max_mean(&[1.0, f32::NAN, -2.0]).map(|(a, b, _)| (a, b)),
            Some((-2.0, 1.0))
        );
        assert_eq!(min_max_mean(&[1.0, 2.0, 6.0]).unwrap().2, 3.0);
    }
}
