//! `save_model_dir` then `load_model`: the folder loads back to the very parameters that
//! were saved (bit for bit), and the loaded model computes the same logits as
//! `Params::to_model`; on every tiny fixture family and on SmolLM2 (with its tokenizer).

use std::path::PathBuf;

use ndarray::Array2;
use shared::fixtures::{default_model, fixture};
use shared::loader::{load_model, load_model_files, LoadedModel};
use shared::tensor::softmax;
use shared::train::{save_model_dir, Params, Tensors};

/// A fresh folder under the system temp folder (not created), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rfs-ckpt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn path_str(&self) -> &str {
        self.0.to_str().expect("the temp folder's path is UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Changes a few weights, so the saved model is not just a copy of the input files.
fn perturb(params: &mut Params) {
    for (i, (_, mut array)) in params
        .tensors
        .named_mut()
        .into_iter()
        .enumerate()
        .step_by(3)
    {
        let n = array.len();
        for (j, x) in array.iter_mut().enumerate().step_by(n / 5 + 1) {
            *x += 0.01 * (i + j % 7) as f32 - 0.02;
        }
    }
}

/// Same names, shapes and f32 bit patterns.
fn assert_same_bits(saved: &Tensors, loaded: &Tensors) {
    let (saved, loaded) = (saved.named(), loaded.named());
    assert_eq!(saved.len(), loaded.len());
    for ((name, a), (loaded_name, b)) in saved.iter().zip(&loaded) {
        assert_eq!(name, loaded_name);
        assert_eq!(a.shape(), b.shape(), "{name}");
        assert!(
            a.iter()
                .zip(b.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{name} differs"
        );
    }
}

/// Bit-for-bit equality of two logit tables.
fn assert_same_logits(a: &Array2<f32>, b: &Array2<f32>) {
    assert_eq!(a.shape(), b.shape());
    assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
}

/// Perturbs the model's parameters, saves them with its tokenizer, loads the folder back
/// and checks parameters, config and logits on `ids`. Returns what was saved and loaded.
fn save_and_reload(original: &LoadedModel, tag: &str, ids: &[u32]) -> (TempDir, LoadedModel) {
    let mut params = Params::from_model(&original.model);
    perturb(&mut params);
    let dir = TempDir::new(tag);
    save_model_dir(
        &dir.0,
        &params,
        original.tokenizer.as_ref(),
        original.chat_template.as_ref(),
    )
    .unwrap();
    let loaded = load_model(dir.path_str()).unwrap();
    assert_eq!(loaded.model.config, params.config);
    let reloaded = Params::from_model(&loaded.model);
    assert_same_bits(&params.tensors, &reloaded.tensors);
    drop(reloaded);
    let expected = params.to_model().unwrap().forward(ids).unwrap();
    assert_same_logits(&loaded.model.forward(ids).unwrap(), &expected);
    let before = original.model.forward(ids).unwrap();
    assert!(before != expected, "the perturbation changes the logits");
    (dir, loaded)
}

#[test]
fn tiny_models_save_and_reload_exactly() {
    for name in [
        "qwen3-tiny",
        "qwen3-tiny-untied",
        "qwen2-tiny",
        "llama-tiny",
    ] {
        let Some(path) = fixture(&format!("tiny/{name}")) else {
            return;
        };
        let original = load_model(path.to_str().unwrap()).unwrap();
        let (dir, loaded) = save_and_reload(&original, name, &[1, 17, 300, 5, 511, 42]);
        assert!(dir.0.join("model.safetensors").is_file(), "{name}");
        assert_eq!(
            loaded.model.lm_head.is_some(),
            original.model.lm_head.is_some(),
            "{name}: tied stays tied, untied stays untied"
        );
        assert!(loaded.tokenizer.is_none(), "no tokenizer was given");
    }
}

#[test]
fn untied_lm_head_with_a_tied_config_is_refused() {
    let Some(path) = fixture("tiny/qwen3-tiny-untied") else {
        return;
    };
    let mut params = Params::from_model(&load_model(path.to_str().unwrap()).unwrap().model);
    params.config.tie_word_embeddings = true;
    let dir = TempDir::new("tied-with-head");
    let err = save_model_dir(&dir.0, &params, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lm_head"), "{err}");
    assert!(params.to_model().is_err());
    assert!(!dir.0.exists(), "nothing is written");
}

#[test]
fn smollm2_saves_and_reloads_with_its_tokenizer_and_chat_template() {
    let Some(files) = default_model() else {
        return;
    };
    let original = load_model_files(&files).unwrap();
    let own = original.chat_template.as_ref().unwrap();
    assert!(
        own.jinja_source().is_some(),
        "the GGUF's own template: {own:?}"
    );
    let prompt = original.encode_prompt("What is 2+3?", true).unwrap();
    let (dir, loaded) = save_and_reload(&original, "smollm2", &prompt[..8]);
    for file in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        assert!(dir.0.join(file).is_file(), "{file}");
    }
    // The folder carries the GGUF's own template, which renders the same prompt.
    let template = loaded.chat_template.as_ref().unwrap();
    assert_eq!(template.jinja_source(), own.jinja_source());
    assert_eq!(loaded.encode_prompt("What is 2+3?", true).unwrap(), prompt);
    assert_eq!(loaded.stop_ids(), original.stop_ids());
    let (a, b) = (original.tokenizer().unwrap(), loaded.tokenizer().unwrap());
    assert_eq!((a.bos_id(), a.eos_id()), (b.bos_id(), b.eos_id()));
    for text in [
        "naïve 日本語 🙂 12345\n\n  x",
        "<|im_start|>user\nhi<|im_end|>",
    ] {
        assert_eq!(a.encode(text), b.encode(text), "{text:?}");
    }
}

/// How far `params`' Q8_0 rollout copy (`Params::to_model_q8_0`, what ch05 samples
/// from) is from its f32 model on `ids`: the largest logit difference relative to the
/// largest logit, and the largest total-variation distance between the two next-token
/// distributions at any position.
fn q8_0_copy_error(params: &Params, ids: &[u32]) -> (f32, f32) {
    let exact = params.to_model().unwrap().forward(ids).unwrap();
    let q8 = params.to_model_q8_0().unwrap().forward(ids).unwrap();
    let scale = exact.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    let diff = (&exact - &q8).iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    let total_variation = exact
        .rows()
        .into_iter()
        .zip(q8.rows())
        .map(|(a, b)| {
            let (p, q) = (
                softmax(a.as_slice().unwrap()),
                softmax(b.as_slice().unwrap()),
            );
            p.iter().zip(&q).map(|(x, y)| (x - y).abs()).sum::<f32>() / 2.0
        })
        .fold(0.0f32, f32::max);
    (diff / scale, total_variation)
}

#[test]
fn a_q8_0_copy_predicts_like_the_f32_parameters() {
    for family in ["qwen3-tiny", "llama-tiny"] {
        let Some(dir) = fixture(&format!("tiny/{family}")) else {
            return;
        };
        let params = Params::from_model(&load_model(dir.to_str().unwrap()).unwrap().model);
        let (err, _) = q8_0_copy_error(&params, &[3, 1, 4, 1, 5, 9, 2, 6, 5, 3]);
        // Close, but not equal: the weights really were quantized. ch05/README.md:
        // within 3% of the largest logit on the random tiny models (measured 2.9%).
        assert!(
            err > 0.0 && err <= 0.03,
            "{family}: logits off by {:.2}% of the largest",
            err * 100.0
        );
    }
}

#[test]
fn the_default_models_q8_0_copy_predicts_like_its_f32_parameters() {
    let Some(files) = default_model() else {
        return;
    };
    let loaded = load_model_files(&files).unwrap();
    let params = Params::from_model(&loaded.model);
    let prompt = loaded
        .encode_prompt("What is 12 + 35? Explain step by step.", true)
        .unwrap();
    let (err, total_variation) = q8_0_copy_error(&params, &prompt);
    eprintln!(
        "SmolLM2, {} positions: logits off by {:.2}% of the largest, next-token distributions \
         by {total_variation:.3} total variation at most",
        prompt.len(),
        err * 100.0
    );
    // ch05/README.md's figures for the real default model: logits within 4% of the
    // largest (measured 3.5%), distributions within 0.1 total variation (measured 0.064).
    assert!(
        err > 0.0 && err <= 0.04,
        "SmolLM2: logits off by {:.2}% of the largest",
        err * 100.0
    );
    assert!(
        total_variation <= 0.1,
        "SmolLM2: next-token distributions {total_variation} apart"
    );
}
