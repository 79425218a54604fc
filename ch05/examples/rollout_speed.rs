use ch04::batched::{sample_batched, SampleOptions};
use ch04::sampling::SamplingConfig;
use ch05::reward::compute_reward;
use shared::loader::load_model;
fn main() {
    let loaded = load_model("smollm2-135m-instruct").unwrap();
    let tok = loaded.tokenizer().unwrap();
    let probs = ch03::arith::generate_arith(&ch03::arith::ArithConfig {
        n: 12,
        seed: 5,
        levels: vec![1],
        split: ch03::arith::Split::Train,
    })
    .unwrap();
    let t: f32 = std::env::args().nth(2).unwrap().parse().unwrap();
    let style = std::env::args().nth(1).unwrap();
    let (mut fmt, mut cor, mut n) = (0, 0, 0);
    for p in &probs {
        let prompt = match style.as_str() {
            "book" => ch03::render_prompt(&p.problem),
            "example" => format!("You are a helpful math assistant.\nAnswer the question and write the final result on a new line as:\n\\boxed{{ANSWER}}\n\nExample:\nQuestion:\nTom has 3 apples. He gets 5 more apples. How many apples does Tom have now?\n\nAnswer:\nTom has 3 + 5 = 8 apples.\n\\boxed{{8}}\n\nQuestion:\n{}\n\nAnswer:", p.problem),
            _ => format!("{}\nPut the final number in \\boxed{{}}.", p.problem),
        };
        let ids = loaded.encode_prompt(&prompt, true).unwrap();
        let opts = SampleOptions {
            max_new_tokens: 128,
            stop_ids: loaded.stop_ids(),
            sampling: SamplingConfig {
                temperature: t,
                top_k: 0,
                top_p: 1.0,
            },
            seed: 1,
        };
        for s in sample_batched(&loaded.model, &ids, 8, &opts).unwrap() {
            let text = tok.decode(&s.generation.ids).unwrap();
            let r = compute_reward(&text, &p.answer, 1.0);
            fmt += r.formatted as i32;
            cor += r.correct as i32;
            n += 1;
        }
    }
    println!("{style} T={t}: formatted {fmt}/{n}, correct {cor}/{n}");
}
