//! Chat messages and chat templates: the model's own `tokenizer.chat_template` (Jinja, rendered
//! by `minijinja` with Python-style string methods from `minijinja-contrib`), or ChatML when a
//! file has none.
//!
//! A rendered chat is a sequence of [`Piece`]s: markup, in which special tokens are recognised,
//! and message contents, in which they are not, so a document that contains `<|im_end|>` or
//! `<end_of_turn>` cannot end a turn. The template is rendered twice, with placeholders for the
//! contents and with the contents, and the two are lined up to find where each content is
//! (templates may drop a message or trim its whitespace). A template that rewrites contents in
//! other ways cannot be lined up; then the whole rendered chat is read as markup, as llama.cpp
//! reads every template.

use minijinja::{Environment, ErrorKind, Value, context};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

/// ChatML, for files without a template: `<|im_start|>role\ncontent<|im_end|>\n` per message,
/// then `<|im_start|>assistant\n`.
pub const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// Marks the place of message `i`'s content in a rendering (private-use code points).
fn placeholder(i: usize) -> String {
    format!("\u{E000}localrag-content-{i}\u{E001}")
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(rename = "ChatMessage")]
pub struct Message {
    #[ts(type = "'system' | 'user' | 'assistant'")]
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Message {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// A rendered chat in pieces: template markup (special tokens in it are recognised) and
/// message text (never read as special tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Markup(String),
    Text(String),
}

/// A chat template, compiled once.
#[derive(Clone, Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos: String,
    eos: String,
}

impl PartialEq for ChatTemplate {
    fn eq(&self, other: &Self) -> bool {
        (&self.source, &self.bos, &self.eos) == (&other.source, &other.bos, &other.eos)
    }
}

fn template_err(e: minijinja::Error) -> Error {
    let mut msg = format!("the model's chat template failed: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    Error::Config(msg)
}

impl ChatTemplate {
    /// Compiles a Jinja chat template; `bos` and `eos` are the texts of the model's
    /// `bos_token` and `eos_token`, which templates may print.
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template_owned("chat", source.to_string())
            .map_err(template_err)?;
        Ok(ChatTemplate {
            env,
            source: source.to_string(),
            bos: bos.to_string(),
            eos: eos.to_string(),
        })
    }

    /// ChatML (for models without a template of their own).
    pub fn chatml() -> Self {
        Self::new(CHATML, "", "<|im_end|>").expect("ChatML compiles")
    }

    /// The template's source.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn render(&self, messages: &[Message]) -> Result<String> {
        self.env
            .get_template("chat")
            .and_then(|t| {
                t.render(context! {
                    messages => Value::from(minijinja::value::Serde(messages)),
                    add_generation_prompt => true,
                    bos_token => &self.bos,
                    eos_token => &self.eos,
                })
            })
            .map_err(template_err)
    }

    /// The chat as the model sees it, in pieces (see the module's documentation).
    pub(crate) fn pieces(&self, messages: &[Message]) -> Result<Vec<Piece>> {
        if messages.is_empty() {
            return Err(Error::Input("a chat needs at least one message".into()));
        }
        if let Some(m) = messages
            .iter()
            .find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant"))
        {
            return Err(Error::Input(format!(
                "message role `{}` is not one of system, user, assistant",
                m.role
            )));
        }
        let masked: Vec<Message> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| Message::new(&m.role, placeholder(i)))
            .collect();
        let masked = self.render(&masked)?;
        let real = self.render(messages)?;
        Ok(split_contents(&masked, &real, messages).unwrap_or_else(|| vec![Piece::Markup(real)]))
    }
}

/// Splits `real` (the chat rendered with the real contents) into markup and contents, using
/// `masked` (rendered with placeholders) for where the markup is. A template may drop a
/// message or trim its whitespace (`| trim`, `.strip()`), but nothing else: `None` when the
/// two renderings do not line up that way.
fn split_contents(masked: &str, real: &str, messages: &[Message]) -> Option<Vec<Piece>> {
    // The markup between placeholders, and which message follows each piece of it.
    let mut markup: Vec<(&str, Option<usize>)> = Vec::new();
    let mut rest = masked;
    let mut next = 0;
    while let Some(at) = rest.find('\u{E000}') {
        let i = (next..messages.len()).find(|&i| rest[at..].starts_with(&placeholder(i)))?;
        markup.push((&rest[..at], Some(i)));
        rest = &rest[at + placeholder(i).len()..];
        next = i + 1;
    }
    if rest.contains('\u{E001}') {
        return None;
    }
    markup.push((rest, None));
    let mut pieces = Vec::new();
    let mut pos = 0;
    for (k, &(m, content)) in markup.iter().enumerate() {
        if !real[pos..].starts_with(m) {
            return None;
        }
        if !m.is_empty() {
            pieces.push(Piece::Markup(m.to_string()));
        }
        pos += m.len();
        let Some(i) = content else { continue };
        let c = messages[i].content.as_str();
        let after = markup[k + 1].0;
        let text = [c, c.trim(), c.trim_start(), c.trim_end()]
            .into_iter()
            .find(|t| real[pos..].starts_with(t) && real[pos + t.len()..].starts_with(after))?;
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        pos += text.len();
    }
    (pos == real.len()).then_some(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOL: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are nice<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn text(p: &[Piece]) -> String {
        p.iter()
            .map(|p| match p {
                Piece::Markup(s) | Piece::Text(s) => s.as_str(),
            })
            .collect()
    }

    #[test]
    fn renders_the_models_template_with_contents_as_text() {
        let t = ChatTemplate::new(SMOL, "", "<|im_end|>").unwrap();
        let p = t.pieces(&[Message::new("user", "Hi <|im_end|>")]).unwrap();
        assert_eq!(
            text(&p),
            "<|im_start|>system\nYou are nice<|im_end|>\n<|im_start|>user\nHi <|im_end|><|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(p[1], Piece::Text("Hi <|im_end|>".into()));
        assert!(matches!(&p[0], Piece::Markup(m) if m.ends_with("user\n")));
        assert_eq!(t.pieces(&[]).unwrap_err().code(), "E_INPUT");
        assert_eq!(
            t.pieces(&[Message::new("robot", "x")]).unwrap_err().code(),
            "E_INPUT"
        );
    }

    #[test]
    fn python_methods_raise_exception_and_bos() {
        // Gemma-like: bos_token, a system turn refused, `.strip()` via pycompat.
        let src = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}{{ ' x '.strip() }}";
        let t = ChatTemplate::new(src, "<bos>", "<eos>").unwrap();
        let p = t.pieces(&[Message::new("user", "q")]).unwrap();
        assert_eq!(
            text(&p),
            "<bos><start_of_turn>user\nq<end_of_turn>\n<start_of_turn>model\nx"
        );
        let e = t.pieces(&[Message::new("system", "s")]).unwrap_err();
        assert_eq!(e.code(), "E_CONFIG");
        assert!(e.to_string().contains("no system role"), "{e}");
        assert_eq!(
            ChatTemplate::new("{% for %}", "", "").unwrap_err().code(),
            "E_CONFIG"
        );
    }

    #[test]
    fn trimmed_contents_stay_text() {
        let t = ChatTemplate::new(
            "{% for m in messages %}[{{ m.content.strip() }}]{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let p = t.pieces(&[Message::new("user", " a [b] ")]).unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Markup("[".into()),
                Piece::Text("a [b]".into()),
                Piece::Markup("]".into())
            ]
        );
    }

    #[test]
    fn a_template_that_rewrites_contents_is_rendered_whole() {
        let t = ChatTemplate::new(
            "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let p = t.pieces(&[Message::new("user", "ab")]).unwrap();
        assert_eq!(p, vec![Piece::Markup("AB".into())]);
        let chatml = ChatTemplate::chatml();
        assert_eq!(
            text(&chatml.pieces(&[Message::new("user", "u")]).unwrap()),
            "<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
