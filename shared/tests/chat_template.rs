//! Chat templates against transformers' `apply_chat_template`: the models' own Jinja
//! templates rendered with minijinja (`fixtures/chat-templates/cases.json`, and the
//! Qwen2.5-Coder prompts of `fixtures/qwen25-coder-0.5b/reference.json`), and the
//! hand-written fallbacks against the real templates.

use serde::Deserialize;
use shared::fixtures::fixture;
use shared::tokenizer::{ChatTemplate, HandWritten, Message};
use shared::Error;

/// SmolLM2-135M-Instruct's template, as its GGUF carries it (`tokenizer.chat_template`).
const SMOLLM2_JINJA: &str = include_str!("data/chat-templates/smollm2-135m-instruct.jinja");
/// Qwen2.5-Coder-0.5B-Instruct's template, as its GGUF carries it.
const QWEN25_JINJA: &str = include_str!("data/chat-templates/qwen2.5-coder-0.5b-instruct.jinja");

/// One rendering by transformers' `apply_chat_template`.
#[derive(Deserialize)]
struct Case {
    family: String,
    messages: Vec<Message>,
    add_generation_prompt: bool,
    enable_thinking: Option<bool>,
    rendered: String,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

/// The fixture cases, or `None` (after a skip line) when the fixtures are absent.
fn fixture_cases() -> Option<Vec<Case>> {
    let path = fixture("chat-templates/cases.json")?;
    let cases: Cases = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!cases.cases.is_empty(), "cases.json has no cases");
    Some(cases.cases)
}

/// Qwen3's Jinja template, from the real `tokenizer_config.json` in the fixtures.
fn qwen3_jinja() -> Option<String> {
    let path = fixture("tokenizers/qwen3/tokenizer_config.json")?;
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Some(config["chat_template"].as_str().unwrap().to_owned())
}

/// The model's own template of a fixture family.
fn family_template(family: &str) -> Option<ChatTemplate> {
    let source = match family {
        "qwen3" => qwen3_jinja()?,
        "smollm2" => SMOLLM2_JINJA.to_owned(),
        other => panic!("cases.json: no template for family {other:?} (known: qwen3, smollm2)"),
    };
    Some(ChatTemplate::from_jinja(family, &source).unwrap())
}

/// Renders every case with `template_for(family)` and checks it against transformers';
/// returns how many cases it checked.
fn check_cases(cases: &[Case], template_for: impl Fn(&str) -> Option<ChatTemplate>) -> usize {
    let mut checked = 0;
    for (i, case) in cases.iter().enumerate() {
        let Some(template) = template_for(&case.family) else {
            continue;
        };
        let rendered = template
            .render(
                &case.messages,
                case.add_generation_prompt,
                case.enable_thinking,
            )
            .unwrap();
        assert_eq!(
            rendered,
            case.rendered,
            "case {i}: {} enable_thinking={:?} ({})",
            case.family,
            case.enable_thinking,
            template.name()
        );
        checked += 1;
    }
    checked
}

#[test]
fn the_models_own_templates_render_every_fixture_case_like_transformers() {
    let Some(cases) = fixture_cases() else { return };
    let checked = check_cases(&cases, family_template);
    assert_eq!(checked, cases.len(), "every case is checked");
    eprintln!("checked {checked} chat-template cases with the models' Jinja templates");
}

#[test]
fn the_hand_written_fallbacks_render_every_fixture_case_like_transformers() {
    let Some(cases) = fixture_cases() else { return };
    let hand_written = |family: &str| {
        let template = match family {
            "qwen3" => HandWritten::Qwen3,
            "smollm2" => HandWritten::SmolLm2,
            other => panic!("cases.json: no hand-written template for family {other:?}"),
        };
        Some(ChatTemplate::hand_written(template))
    };
    assert_eq!(check_cases(&cases, hand_written), cases.len());
}

/// A Qwen2.5-Coder reference prompt: raw text, one user message, or a conversation.
#[derive(Deserialize)]
struct Qwen25Prompt {
    chat: bool,
    text: Option<String>,
    messages: Option<Vec<Message>>,
}

/// A reference case: only the prompt and its rendering matter here.
#[derive(Deserialize)]
struct Qwen25Case {
    prompt: Qwen25Prompt,
    rendered: String,
}

#[derive(Deserialize)]
struct Qwen25Reference {
    cases: Vec<Qwen25Case>,
}

/// What a reference prompt becomes: the raw text without `chat`; with it, `messages`
/// (or `text` as one user message) in the template with the generation prompt.
fn render_qwen25_prompt(template: &ChatTemplate, prompt: &Qwen25Prompt) -> String {
    let text = prompt.text.as_deref();
    if !prompt.chat {
        return text.expect("a raw prompt has text").to_owned();
    }
    match &prompt.messages {
        Some(messages) => template.render(messages, true, None).unwrap(),
        None => template
            .render_user_prompt(text.expect("a chat prompt has text or messages"))
            .unwrap(),
    }
}

#[test]
fn qwen25_reference_prompts_render_like_transformers() {
    let Some(path) = fixture("qwen25-coder-0.5b/reference.json") else {
        return;
    };
    let reference: Qwen25Reference =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!reference.cases.is_empty());
    let template = ChatTemplate::from_jinja("qwen2.5-coder-0.5b-instruct", QWEN25_JINJA).unwrap();
    let mut chat_cases = 0;
    for (i, case) in reference.cases.iter().enumerate() {
        assert_eq!(
            render_qwen25_prompt(&template, &case.prompt),
            case.rendered,
            "case {i}"
        );
        chat_cases += usize::from(case.prompt.chat);
    }
    assert!(chat_cases > 0, "some cases use the chat template");
    eprintln!(
        "checked {} Qwen2.5-Coder cases ({chat_cases} through the chat template)",
        reference.cases.len()
    );
}

#[test]
fn qwen25_adds_its_default_system_prompt_only_when_none_is_given() {
    let template = ChatTemplate::from_jinja("qwen2.5", QWEN25_JINJA).unwrap();
    let default = template.render_user_prompt("hi").unwrap();
    assert!(default.starts_with(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    ));
    let own = template
        .render(&[Message::system("S"), Message::user("hi")], false, None)
        .unwrap();
    assert_eq!(
        own,
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
    );
}

/// Conversations beyond the fixtures: several turns, reasoning in earlier and later
/// assistant turns, tool results, a system prompt in the middle.
fn conversations() -> Vec<Vec<Message>> {
    use shared::tokenizer::Role;
    vec![
        vec![Message::user("a")],
        vec![Message::system("s"), Message::user("u")],
        vec![
            Message::user("a"),
            Message::assistant("<think>\nr1\n</think>\n\nb"),
            Message::user("c"),
            Message::assistant("<think>\nr2\n</think>\n\nd"),
        ],
        vec![Message::user("a"), Message::assistant("b")],
        vec![
            Message::user("q"),
            Message::assistant("calling"),
            Message::new(Role::Tool, "42"),
            Message::new(Role::Tool, "43"),
            Message::assistant("<think>\nsum\n</think>\n\n85"),
        ],
        vec![
            Message::user("<tool_response>\nx\n</tool_response>"),
            Message::system("late system"),
            Message::assistant("no reasoning here"),
        ],
    ]
}

#[test]
fn the_hand_written_templates_agree_with_the_real_ones_on_longer_conversations() {
    let Some(qwen3) = qwen3_jinja() else { return };
    let pairs = [
        (
            HandWritten::Qwen3,
            ChatTemplate::from_jinja("qwen3", &qwen3).unwrap(),
        ),
        (
            HandWritten::SmolLm2,
            ChatTemplate::from_jinja("smollm2", SMOLLM2_JINJA).unwrap(),
        ),
    ];
    let mut checked = 0;
    for (hand_written, real) in &pairs {
        for messages in conversations() {
            for generation_prompt in [false, true] {
                for thinking in [None, Some(true), Some(false)] {
                    assert_eq!(
                        hand_written.render(&messages, generation_prompt, thinking),
                        real.render(&messages, generation_prompt, thinking).unwrap(),
                        "{hand_written:?} {messages:?} {generation_prompt} {thinking:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 2 * conversations().len() * 2 * 3);
}

#[test]
fn user_prompt_shortcut_is_one_user_message_with_generation_prompt() {
    let template = ChatTemplate::from_jinja("smollm2", SMOLLM2_JINJA).unwrap();
    assert_eq!(
        template.render_user_prompt("What is 2+3?").unwrap(),
        template
            .render(&[Message::user("What is 2+3?")], true, None)
            .unwrap()
    );
    assert!(template
        .render_user_prompt("hi")
        .unwrap()
        .starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"));
}

/// Renders `source` for the messages `p`, `q` (as users), without a generation prompt.
fn render_pq(source: &str) -> String {
    ChatTemplate::from_jinja("test", source)
        .unwrap()
        .render(&[Message::user("p"), Message::user("q")], false, None)
        .unwrap()
}

#[test]
fn the_environment_is_configured_as_transformers_configures_jinja2() {
    // Expected values: Jinja2 3.1.6 with trim_blocks, lstrip_blocks and loopcontrols,
    // as transformers builds its environment.
    assert_eq!(render_pq("a\n"), "a", "one trailing newline is dropped");
    assert_eq!(render_pq("a\n\n"), "a\n");
    assert_eq!(
        render_pq("{% for m in messages %}\n  {{ m.content }}\n{% endfor %}\n"),
        "  p\n  q\n",
        "block lines are trimmed"
    );
    assert_eq!(
        render_pq("{{ ' x '.strip() + 'a,b'.split(',')[1] }}"),
        "xb",
        "Python string methods"
    );
    assert_eq!(
        render_pq("{% for i in [1,2,3] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
        "1",
        "loop controls"
    );
    assert_eq!(render_pq("{{ 'a<b&' }}"), "a<b&", "no HTML escaping");
    assert_eq!(
        render_pq("{{ bos_token }}x"),
        "x",
        "an unknown token prints nothing"
    );
}

#[test]
fn special_tokens_reach_the_template() {
    let template = ChatTemplate::from_jinja(
        "llama-like",
        "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}",
    )
    .unwrap()
    .with_special_tokens(Some("<s>"), Some("</s>"));
    assert_eq!(template.render_user_prompt("hi").unwrap(), "<s>hi</s>");
}

#[test]
fn a_template_that_raises_is_an_error_naming_the_template_and_the_message() {
    let source = "{% if messages[0].role != 'system' %}{{ raise_exception('need a system message') }}{% endif %}ok";
    let template = ChatTemplate::from_jinja("strict-model", source).unwrap();
    let err = template.render_user_prompt("hi").unwrap_err();
    assert!(matches!(err, Error::ChatTemplate { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("strict-model") && text.contains("need a system message"),
        "{text}"
    );
    assert_eq!(
        template
            .render(&[Message::system("s"), Message::user("hi")], false, None)
            .unwrap(),
        "ok"
    );
}

#[test]
fn a_template_that_does_not_compile_says_so_when_built_or_used() {
    let broken = "{% for m in messages %}{{ m.content }}";
    let err = ChatTemplate::from_jinja("broken-model", broken)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("broken-model") && err.contains("does not compile"),
        "{err}"
    );
    let kept = ChatTemplate::from_jinja_or_unusable("broken-model", broken);
    assert!(kept.jinja_source().is_none());
    let err = kept.render_user_prompt("hi").unwrap_err().to_string();
    assert!(
        err.contains("broken-model")
            && err.contains("does not compile")
            && err.contains("end of block"),
        "{err}"
    );
}

#[test]
fn smollm2_committed_template_is_the_ggufs_own() {
    let Some(files) = shared::fixtures::default_model() else {
        return;
    };
    let file = shared::io::GgufFile::open(files.path()).unwrap();
    let own = file
        .get("tokenizer.chat_template")
        .unwrap()
        .as_str()
        .unwrap();
    assert_eq!(own, SMOLLM2_JINJA);
}
