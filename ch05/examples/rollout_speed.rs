use ch04::batched::{sample_batched, SampleOptions};
use ch04::sampling::SamplingConfig;
use ch05::reward::compute_reward;
use shared::loader::load_model;
fn main() {
    let loaded = load_model("smollm2-135m-instruct").unwrap();
    let tok = loaded.tokenizer().unwrap();
    let level: u32 = std::env::args().nth(2).unwrap().parse().unwrap();
    let probs = ch03::arith::generate_arith(&ch03::arith::ArithConfig {
        n: 24,
        seed: 5,
        levels: vec![level],
        split: ch03::arith::Split::Train,
    })
    .unwrap();
    let t: f32 = std::env::args().nth(1).unwrap().parse().unwrap();
    let (mut fmt, mut cor, mut n) = (0, 0, 0);
    for (k, p) in probs.iter().enumerate() {
        let prompt = ch03::PromptStyle::OneShot.render(&p.problem);
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
            let text = tok.decode(&s.generation.ids);
            let r = compute_reward(&text, &p.answer, 1.0);
            if k < 3 && n % 8 == 0 {
                println!("Q {} A {}\n  -> {:?}", p.problem, p.answer, text);
            }
            fmt += r.formatted as i32;
            cor += r.correct as i32;
            n += 1;
        }
    }
    println!("level {level} T={t}: formatted {fmt}/{n}, correct {cor}/{n}");
}
