//! `ch04 revote`: a self-consistency log's votes again under another rule, from the
//! answers and scores it holds (no generation), and the accuracy before and after.

use std::path::Path;

use anyhow::{bail, Context, Result};
use ch03::records::{read_records_repairing, write_records_atomically};

use crate::evaluate::{revote_self_consistency, MethodRecord};
use crate::self_consistency::{GroupScore, Grouping, TieBreak, VoteRule};

/// `ch04 revote`: the log's votes again by `rule`, and the accuracy before and after.
pub fn revote(log: &Path, rule: VoteRule, out: Option<&Path>) -> Result<()> {
    if !log.exists() {
        bail!("--log {}: no such file", log.display());
    }
    if let Some(out) = out.filter(|o| o.exists()) {
        bail!(
            "--out {}: already exists; choose another path",
            out.display()
        );
    }
    let records: Vec<MethodRecord> = read_records_repairing(log)?;
    let revoted = records
        .iter()
        .map(|r| {
            revote_self_consistency(r, rule).with_context(|| {
                format!(
                    "{}: record {} is not a self-consistency record with a log-probability per sample \
                     (logs written before log-probabilities were kept cannot be revoted; \
                     --tie-break heuristic also needs the heuristic scores, kept since 2026-12-01)",
                    log.display(),
                    r.index
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let count =
        |rs: &[MethodRecord], f: fn(&MethodRecord) -> bool| rs.iter().filter(|r| f(r)).count();
    let n = records.first().map_or(0, |r| r.n);
    let tokens = |rs: &[MethodRecord]| rs.iter().map(|r| r.tokens).sum::<usize>();
    println!(
        "self-consistency N={n}, {} problems, {} tied votes: {} correct as logged, {} with ties {} \
         ({} answers, {}{}); tokens {} → {}",
        records.len(),
        count(&revoted, |r| r.tie),
        count(&records, |r| r.correct),
        count(&revoted, |r| r.correct),
        match rule.tie_break {
            TieBreak::Report => "reported",
            TieBreak::FirstSeen => "settled by first appearance",
            TieBreak::AvgLogprob => "broken by log-probability",
            TieBreak::Heuristic => "broken by heuristic score",
        },
        match rule.grouping {
            Grouping::Equivalent => "equivalent",
            Grouping::Exact => "exact",
        },
        match rule.group_score {
            GroupScore::Mean => "mean group score",
            GroupScore::Max => "max group score",
        },
        if rule.early_stop { ", early stop" } else { "" },
        tokens(&records),
        tokens(&revoted),
    );
    if let Some(out) = out {
        write_records_atomically(out, &revoted)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
