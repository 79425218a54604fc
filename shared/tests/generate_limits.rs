//! Generation stops at the model's context, however many tokens are asked for,
//! and gives the same ids with and without the KV cache up to that point.

use shared::fixtures::fixture;
use shared::generate::{generate_text_basic, generate_text_basic_cache, StopReason};
use shared::loader::load_hf_model;
use shared::train::Params;

#[test]
fn an_absurd_max_new_tokens_stops_at_the_context() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let model = load_hf_model(&dir).unwrap();
    let context = model.config.max_position_embeddings;
    let prompt = [1, 17, 250];
    let cached = generate_text_basic_cache(&model, &prompt, usize::MAX, &[], &mut |_| {}).unwrap();
    assert_eq!(cached.stop, StopReason::ContextFull);
    // The last position's logits give one token that no longer needs a cache slot.
    assert_eq!(cached.ids.len(), context - prompt.len() + 1);
    let uncached = generate_text_basic(&model, &prompt, usize::MAX, &[], &mut |_| {}).unwrap();
    assert_eq!(uncached.stop, StopReason::ContextFull);
    assert_eq!(uncached.ids, cached.ids);
}

#[test]
fn non_finite_weights_stop_generation_at_the_first_forward() {
    let Some(dir) = fixture("tiny/llama-tiny") else {
        return;
    };
    let mut params = Params::from_model(&load_hf_model(&dir).unwrap());
    params.tensors.norm[3] = f32::NAN;
    let mut model = params.to_model().unwrap();
    model.source = Some(dir.join("model.safetensors"));
    let prompt = [1, 17, 250];
    for result in [
        generate_text_basic_cache(&model, &prompt, 5, &[], &mut |_| {}),
        generate_text_basic(&model, &prompt, 5, &[], &mut |_| {}),
    ] {
        let error = result.unwrap_err();
        assert!(matches!(error, shared::Error::NonFinite(_)), "{error}");
        assert!(error.to_string().contains("NaN"), "{error}");
        assert!(error.to_string().contains("model.safetensors"), "{error}");
    }
}
