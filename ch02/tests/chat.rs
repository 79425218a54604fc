//! `ch02 chat` on the default model: answers streamed to stdout, the whole history
//! in the chat template, `\history`, `\clear`, `\exit`, a conversation longer than
//! the context, and the same REPL in a pseudo-terminal.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use shared::fixtures::default_model;
use shared::generate::generate_text_basic_cache;
use shared::loader::load_model_files;
use shared::tokenizer::Message;

/// Runs `ch02 chat` on `model` with `args`, `input` piped to its stdin.
fn chat(model: &str, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ch02"))
        .args(["chat", "--model", model])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ch02 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn each_answer_is_the_greedy_answer_to_the_whole_history_in_the_template() {
    let Some(files) = default_model() else {
        return;
    };
    let model = files.path().to_str().unwrap();
    let out = chat(
        model,
        &["--max-new-tokens", "16"],
        "What is 2 + 3?\n\\history\nAnd times 4?\n\\clear\n\\history\n\\exit\nnever read\n",
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    // What the chat should have said, from the library: the template over every turn.
    let loaded = load_model_files(&files).unwrap();
    let (template, tokenizer) = (
        loaded.chat_template.as_ref().unwrap(),
        loaded.tokenizer().unwrap(),
    );
    let answer = |turns: &[Message]| {
        let text = template.render(turns, true, None).unwrap();
        let ids = tokenizer.encode(&text);
        let g = generate_text_basic_cache(&loaded.model, &ids, 16, &loaded.stop_ids(), &mut |_| {})
            .unwrap();
        tokenizer.decode(&g.ids)
    };
    let first = answer(&[Message::user("What is 2 + 3?")]);
    let second = answer(&[
        Message::user("What is 2 + 3?"),
        Message::assistant(first.clone()),
        Message::user("And times 4?"),
    ]);
    assert!(!first.trim().is_empty() && !second.trim().is_empty());
    let want = format!(
        "{first}\nyou: What is 2 + 3?\nassistant: {first}\n{second}\n[history cleared]\n[no turns yet]\n"
    );
    assert_eq!(stdout, want, "stderr: {stderr}");
}

#[test]
fn a_conversation_longer_than_the_context_gets_a_message_not_a_crash() {
    let Some(files) = default_model() else {
        return;
    };
    let model = files.path().to_str().unwrap();
    // SmolLM2's context is 8192 tokens; each " word" is one token.
    let long = " word".repeat(9000);
    let out = chat(
        model,
        &["--max-new-tokens", "4"],
        &format!("{long}\n\\history\n"),
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("the model's context 8192: \\clear to start over]"),
        "{stdout}"
    );
    assert!(stdout.ends_with("[no turns yet]\n"), "{stdout}");
}

#[test]
fn in_a_terminal_the_chat_prompts_for_each_line() {
    let Some(files) = default_model() else {
        return;
    };
    // `script` (util-linux) runs the chat in a pseudo-terminal, so stdin is a terminal.
    let command = format!(
        "{} chat --model {} --max-new-tokens 4",
        env!("CARGO_BIN_EXE_ch02"),
        files.path().display()
    );
    let mut child = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs the chat in a pseudo-terminal: install util-linux");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\\history\n\\exit\n").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("\\clear forgets, \\history shows, \\exit quits"),
        "{text}"
    );
    assert!(text.contains("> "), "no prompt in a terminal: {text}");
    assert!(text.contains("[no turns yet]"), "{text}");
}
