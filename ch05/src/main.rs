//! `cargo run -p ch05`: says what this chapter will hold (not written yet).

fn main() {
    println!("{}", ch05::COMING);
    println!(
        "Until then: `cargo run -p ch01` and `cargo run -p ch02` run the chapters that exist."
    );
}
