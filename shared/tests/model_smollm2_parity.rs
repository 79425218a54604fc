//! The default model (SmolLM2-135M-Instruct, Q4_1 GGUF) against transformers
//! running the same weights dequantized to f32 (`fixtures/smollm2-135m/reference.json`).

use shared::fixtures::{default_model, fixture_json, json_floats, json_ids};
use shared::generate::generate_text_basic_cache;
use shared::io::GgufFile;
use shared::loader::load_gguf_model;
use shared::tensor::{argmax, log_softmax};
use shared::tokenizer::{ChatTemplate, Tokenizer};

#[test]
fn logits_and_greedy_ids_match_transformers() {
    let Some(reference) = fixture_json("smollm2-135m/reference.json") else {
        return;
    };
    let Some(files) = default_model() else { return };
    let gguf = GgufFile::open(files.path()).unwrap();
    let model = load_gguf_model(&gguf).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf).unwrap();
    let template_source = gguf.get("tokenizer.chat_template").unwrap();
    let template = ChatTemplate::from_jinja("smollm2", template_source.as_str().unwrap()).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8, "cases in the fixture");
    let (mut worst_logit, mut worst_logprob) = (0.0f64, 0.0f64);
    for case in cases {
        let input = json_ids(&case["input_ids"]);
        // Our tokenizer (and, for chat cases, chat template) gives the same input ids.
        let prompt = case["prompt"].as_str().unwrap();
        let text = match case["kind"].as_str().unwrap() {
            "chat" => template.render_user_prompt(prompt).unwrap(),
            _ => prompt.to_owned(),
        };
        assert_eq!(
            text,
            case["text"].as_str().unwrap(),
            "{prompt:?}: rendered text"
        );
        assert_eq!(tokenizer.encode(&text), input, "{prompt:?}: input_ids");
        let logits = model.forward(&input).unwrap();
        let last = logits.row(logits.nrows() - 1);
        let mut order: Vec<usize> = (0..last.len()).collect();
        order.sort_by(|&a, &b| last[b].total_cmp(&last[a]));
        let top10: Vec<u32> = order[..10].iter().map(|&i| i as u32).collect();
        let mut expected = json_ids(&case["top10_ids"]);
        let expected_logits: Vec<f64> = case["top10_logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let logprobs = log_softmax(last.as_slice().unwrap());
        let expected_logprobs = json_floats(&case["top10_logprobs"]);
        assert_eq!((expected_logits.len(), expected_logprobs.len()), (10, 10));
        for ((&id, &want), &want_lp) in expected
            .iter()
            .zip(&expected_logits)
            .zip(&expected_logprobs)
        {
            let got = last[id as usize] as f64;
            worst_logit = worst_logit.max((got - want).abs());
            worst_logprob =
                worst_logprob.max((logprobs[id as usize] as f64 - want_lp as f64).abs());
        }
        let argmaxes: Vec<u32> = logits
            .rows()
            .into_iter()
            .map(|r| argmax(r.as_slice().unwrap()) as u32)
            .collect();
        assert_eq!(
            argmaxes,
            json_ids(&case["argmax_per_position"]),
            "{:?}: argmax per position",
            case["prompt"]
        );
        let mut got_set = top10.clone();
        got_set.sort();
        expected.sort();
        assert_eq!(got_set, expected, "{:?}: top-10 ids", case["prompt"]);
        let want = json_ids(&case["greedy_32_ids"]);
        let greedy = generate_text_basic_cache(&model, &input, 32, &[2], &mut |_| {}).unwrap();
        let mut got = greedy.ids.clone();
        if got.len() < 32 {
            got.push(2);
        }
        assert_eq!(got, want, "{:?}: greedy", case["prompt"]);
    }
    eprintln!(
        "largest top-10 differences: logit {worst_logit:.2e}, log-probability {worst_logprob:.2e}"
    );
    // Measured 5.9e-5 and 2.4e-4 (the fixture prints 4–5 decimals; the log-sum-exp runs
    // over 49,152 f32 logits).
    assert!(
        worst_logit <= 5e-4,
        "top-10 logits differ by up to {worst_logit}"
    );
    assert!(
        worst_logprob <= 1e-3,
        "top-10 log-probabilities differ by up to {worst_logprob}"
    );
}
