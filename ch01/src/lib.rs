//! Chapter 1 (book ch. 1): what "reasoning" means for an LLM, and how an LLM
//! predicts the next token.
//!
//! An LLM maps token ids to a score (logit) for every token of its vocabulary;
//! softmax turns the scores into a probability distribution, and generation
//! picks from it, one token at a time. Reasoning models do nothing else: they
//! just spend more of those tokens on intermediate steps.

use ndarray::{array, Array2};
use serde::Serialize;
use shared::attention::causal_attention_weights;
use shared::model::Model;
use shared::tensor::softmax;
use shared::tokenizer::Tokenizer;
use shared::{Error, Result};

/// One candidate for the next token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenProb {
    pub id: u32,
    /// The token's text (`None` when the model has no tokenizer).
    pub token: Option<String>,
    pub logit: f32,
    pub prob: f32,
}

/// The `k` most likely next tokens after `ids`, sorted by logit (book section
/// 1.3, "pattern matching": the model continues with what is most probable).
pub fn next_token_distribution(
    model: &Model,
    tokenizer: Option<&Tokenizer>,
    ids: &[u32],
    k: usize,
) -> Result<Vec<TokenProb>> {
    if ids.is_empty() {
        return Err(Error::InvalidArgument(
            "empty prompt: give at least one token".into(),
        ));
    }
    model.check_input(ids, 0, ids.len())?;
    let mut cache = model.new_cache(ids.len());
    let logits = model.last_logits(&model.forward_sequence(ids, &mut cache));
    let probs = softmax(&logits);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    Ok(order
        .into_iter()
        .take(k)
        .map(|i| TokenProb {
            id: i as u32,
            token: tokenizer.map(|t| t.decode(&[i as u32])),
            logit: logits[i],
            prob: probs[i],
        })
        .collect())
}

/// A table of next-token candidates with a bar for each probability.
pub fn format_distribution(top: &[TokenProb]) -> String {
    let mut out = format!(
        "{:>6}  {:<16} {:>8} {:>7}\n",
        "id", "token", "logit", "prob"
    );
    for t in top {
        let token = t
            .token
            .as_deref()
            .map_or("-".to_string(), |s| format!("{s:?}"));
        let bar = "█".repeat((t.prob * 40.0).round() as usize);
        out += &format!(
            "{:>6}  {:<16} {:>8.3} {:>6.1}% {bar}\n",
            t.id,
            token,
            t.logit,
            t.prob * 100.0
        );
    }
    out
}

/// Softmax on a toy vector of logits, printed as the book explains it:
/// larger scores get exponentially more probability, and the total is 1.
pub fn toy_softmax() -> String {
    let tokens = ["Paris", "London", "pizza", "the"];
    let logits = [4.0, 2.5, 0.5, 1.0];
    let probs = softmax(&logits);
    let mut out = format!("{:<8} {:>6} {:>8}\n", "token", "logit", "prob");
    for ((t, l), p) in tokens.iter().zip(logits).zip(&probs) {
        out += &format!("{t:<8} {l:>6.2} {p:>8.4}\n");
    }
    out += &format!("sum of probabilities: {:.4}\n", probs.iter().sum::<f32>());
    out
}

/// The six-token sentence and 3-d embeddings used to introduce attention.
pub fn toy_sentence() -> (Vec<&'static str>, Array2<f32>) {
    let words = vec!["Your", "journey", "starts", "with", "one", "step"];
    let embeddings = array![
        [0.43, 0.15, 0.89],
        [0.55, 0.87, 0.66],
        [0.57, 0.85, 0.64],
        [0.22, 0.58, 0.33],
        [0.77, 0.25, 0.10],
        [0.05, 0.80, 0.55],
    ];
    (words, embeddings)
}

/// Causal attention weights of the toy sentence (queries = keys = the
/// embeddings): row `i` says how much token `i` looks at each earlier token.
pub fn toy_causal_attention() -> String {
    let (words, x) = toy_sentence();
    let weights = causal_attention_weights(x.view(), x.view());
    let mut out = format!("{:>9}", "");
    for w in &words {
        out += &format!("{w:>9}");
    }
    out.push('\n');
    for (word, row) in words.iter().zip(weights.rows()) {
        out += &format!("{word:>9}");
        for &v in row {
            out += &format!("{v:>9.3}");
        }
        out.push('\n');
    }
    out
}

/// Two texts side by side in columns of `width` characters (long lines wrap).
pub fn side_by_side(
    left_title: &str,
    left: &str,
    right_title: &str,
    right: &str,
    width: usize,
) -> String {
    let l = wrap(left, width);
    let r = wrap(right, width);
    let mut out = format!(
        "{left_title:<width$} | {right_title}\n{} | {}\n",
        "-".repeat(width),
        "-".repeat(width)
    );
    for i in 0..l.len().max(r.len()) {
        let a = l.get(i).map_or("", String::as_str);
        let b = r.get(i).map_or("", String::as_str);
        out += &format!("{a:<width$} | {b}\n");
    }
    out
}

/// Splits text into lines of at most `width` characters, breaking at spaces where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let needed =
                line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
            if needed > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            while line.chars().count() > width {
                let head: String = line.chars().take(width).collect();
                line = line.chars().skip(width).collect();
                lines.push(head);
            }
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("abcdefg", 3), vec!["abc", "def", "g"]);
        assert_eq!(wrap("a\n\nb", 3), vec!["a", "", "b"]);
    }
}
