//! `ch05 grads`: the loss of a token sequence and every parameter's gradient from the
//! hand-written backward pass, as a table or one JSON document.

use anyhow::{bail, Result};
use shared::cli::{load_model_verbose, parse_ids, DeviceArgs};
use shared::device::Device;
use shared::train::{loss_and_grads, Params};

/// How many leading values of each gradient are printed.
const HEAD: usize = 8;

/// `grads`: the loss and gradients of `ids`. The backward pass exists only on
/// the CPU, so `--device` is not used (a note on stderr says so).
pub fn print_grads(model: &str, device: DeviceArgs, ids: &str, as_json: bool) -> Result<()> {
    let ids = parse_ids(ids)?;
    if ids.len() < 2 {
        bail!(
            "--ids: the next-token loss needs at least 2 token ids (each predicts the next), got {}",
            ids.len()
        );
    }
    if device.device != Device::Cpu {
        eprintln!(
            "note: grads runs on the CPU (the backward pass has no GPU version); --device {} is not used",
            device.device
        );
    }
    let loaded = load_model_verbose(model)?;
    let params = Params::from_model(&loaded.model);
    drop(loaded);
    let start = std::time::Instant::now();
    let (report, grads) = loss_and_grads(&params, &ids)?;
    eprintln!(
        "forward and backward over {} tokens in {:.2} s",
        ids.len(),
        start.elapsed().as_secs_f64()
    );
    let named = grads.tensors.named();
    let l2 = |a: &ndarray::ArrayViewD<f32>| {
        a.iter()
            .map(|&x| (x as f64) * (x as f64))
            .sum::<f64>()
            .sqrt()
    };
    let head = |a: &ndarray::ArrayViewD<f32>| a.iter().take(HEAD).copied().collect::<Vec<f32>>();
    if as_json {
        // Written by hand to keep the parameters in Hugging Face order
        // (serde_json's map would sort them).
        let mut entries = Vec::with_capacity(named.len());
        for (name, g) in &named {
            entries.push(format!(
                "{}:{{\"l2\":{},\"head\":{}}}",
                serde_json::to_string(name)?,
                serde_json::to_string(&l2(g))?,
                serde_json::to_string(&head(g))?
            ));
        }
        println!(
            "{{\"loss\":{},\"grads\":{{{}}}}}",
            serde_json::to_string(&report.loss)?,
            entries.join(",")
        );
        return Ok(());
    }
    println!(
        "loss {:.6} over {} next-token predictions; {} parameters in {} tensors",
        report.loss,
        ids.len() - 1,
        grads.tensors.num_scalars(),
        named.len()
    );
    let width = named.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    println!(
        "{:width$}  {:>12}  first {HEAD} values",
        "parameter", "grad L2"
    );
    for (name, g) in &named {
        let values: Vec<String> = head(g).iter().map(|v| format!("{v:+.6}")).collect();
        println!("{name:width$}  {:>12.6}  {}", l2(g), values.join(" "));
    }
    Ok(())
}
