//! Chat messages and the chat templates localrag applies itself (no template engine runs in
//! the page): a template turns messages into [`Piece`]s, which the tokenizer turns into ids.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

const IM_START: &str = "<|im_start|>";
const IM_END: &str = "<|im_end|>";

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

/// A prompt under construction: a special token (by its name in the vocabulary) or text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Special(&'static str),
    Text(String),
}

/// The chat formats localrag applies itself (no template engine runs in the page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\ncontent<|im_end|>\n` per message, then `<|im_start|>assistant\n`.
    /// `default_system` is inserted when the first message is not a system message, as the
    /// model's own template does.
    ChatMl { default_system: Option<String> },
}

impl ChatTemplate {
    /// Recognises a Jinja chat template by its markers. Unknown templates are a typed error: the
    /// caller can still generate from a raw prompt.
    pub fn recognise(template: &str) -> Result<Self> {
        if template.contains("<|im_start|>") {
            // SmolLM2's template: `{% if loop.first and messages[0]['role'] != 'system' %}{{
            // '<|im_start|>system\nYou are …<|im_end|>\n' }}{% endif %}`.
            let marker = "<|im_start|>system\n";
            let default_system = template
                .contains("!= 'system'")
                .then(|| template.find(marker))
                .flatten()
                .and_then(|at| {
                    let rest = &template[at + marker.len()..];
                    rest.find("<|im_end|>").map(|end| rest[..end].to_string())
                })
                .filter(|s| !s.contains('{') && !s.contains('\''));
            return Ok(ChatTemplate::ChatMl { default_system });
        }
        Err(Error::Config(
            "the model's chat template is not one localrag can apply (only ChatML is); generate from a raw prompt instead".into(),
        ))
    }

    /// The prompt for `messages`: literal special tokens (by name) and the text between them.
    /// Text is tokenized with special-token parsing off, so document text that happens to
    /// contain `<|im_end|>` cannot end a turn.
    pub(crate) fn pieces(&self, messages: &[Message]) -> Result<Vec<Piece>> {
        let ChatTemplate::ChatMl { default_system } = self;
        if messages.is_empty() {
            return Err(Error::Input("a chat needs at least one message".into()));
        }
        let mut out = Vec::new();
        let mut push = |role: &str, content: &str| {
            out.push(Piece::Special(IM_START));
            out.push(Piece::Text(format!("{role}\n{content}")));
            out.push(Piece::Special(IM_END));
            out.push(Piece::Text("\n".into()));
        };
        if messages[0].role != "system"
            && let Some(system) = default_system
        {
            push("system", system);
        }
        for m in messages {
            if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
                return Err(Error::Input(format!(
                    "message role `{}` is not one of system, user, assistant",
                    m.role
                )));
            }
            push(&m.role, &m.content);
        }
        out.push(Piece::Special(IM_START));
        out.push(Piece::Text("assistant\n".into()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_chatml_and_its_default_system_prompt() {
        let t = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are nice<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}";
        assert_eq!(
            ChatTemplate::recognise(t).unwrap(),
            ChatTemplate::ChatMl {
                default_system: Some("You are nice".into())
            }
        );
        assert!(matches!(
            ChatTemplate::recognise("{{ bos_token }}[INST]"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn chatml_wraps_each_message_and_adds_the_default_system_prompt() {
        let t = ChatTemplate::ChatMl {
            default_system: Some("Be brief.".into()),
        };
        let p = t.pieces(&[Message::new("user", "Hi")]).unwrap();
        assert_eq!(p[0], Piece::Special(IM_START));
        assert_eq!(p[1], Piece::Text("system\nBe brief.".into()));
        assert_eq!(p[5], Piece::Text("user\nHi".into()));
        assert_eq!(p.last(), Some(&Piece::Text("assistant\n".into())));
        assert_eq!(t.pieces(&[]).unwrap_err().code(), "E_INPUT");
        assert_eq!(
            t.pieces(&[Message::new("robot", "x")]).unwrap_err().code(),
            "E_INPUT"
        );
    }
}
