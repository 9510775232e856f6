//! `tokenizer.json` and `tokenizer_config.json`: text to the token ids a text tower
//! reads, as the model's tokenizer in transformers gives them.
//!
//! Owns loading the tokenizer (the `tokenizers` crate, its pure-Rust regex engine) and each
//! family's text input: CLIP's ids truncated to the context; SigLIP's lower-cased text
//! (SigLIP 2 was trained on it), padded to the context length, with the padding masked
//! when the tokenizer returns an attention mask (Gemma's, SigLIP 2's).

use super::config::Family;
use super::weights::problem;
use crate::error::Result;
use serde_json::Value;
use std::path::Path;
use tokenizers::{Tokenizer, TruncationParams};

/// A model's text input.
pub(crate) struct TextInput {
    tokenizer: Tokenizer,
    /// SigLIP: the id padded with, the side padded on (left: true) and whether the padding
    /// is masked (Gemma's tokenizer returns a mask, SigLIP's does not).
    padding: Option<Padding>,
    /// SigLIP 2 (a Gemma tokenizer): the text is lower-cased.
    lowercase: bool,
    context: usize,
}

struct Padding {
    id: u32,
    left: bool,
    masked: bool,
}

/// The ids a text tower reads, and which positions it may attend to (`None`: all).
pub(crate) struct Tokens {
    pub ids: Vec<u32>,
    pub keys: Option<Vec<bool>>,
}

impl TextInput {
    pub fn open(dir: &Path, family: Family, context: usize) -> Result<TextInput> {
        let path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&path).map_err(|e| problem(&path, e.to_string()))?;
        let config_path = dir.join("tokenizer_config.json");
        let config: Value = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| problem(&config_path, format!("not valid JSON: {e}")))?,
            Err(_) => Value::Null,
        };
        let class = config
            .get("tokenizer_class")
            .and_then(Value::as_str)
            .unwrap_or("");
        let gemma = family == Family::Siglip && class.starts_with("Gemma");
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: context,
                ..Default::default()
            }))
            .map_err(|e| problem(&path, e.to_string()))?;
        tokenizer.with_padding(None);
        let padding = if family == Family::Siglip {
            let pad_token = token_text(config.get("pad_token")).unwrap_or("<pad>".into());
            let id = tokenizer.token_to_id(&pad_token).ok_or_else(|| {
                problem(
                    &path,
                    format!(
                        "has no padding token `{pad_token}` (tokenizer_config.json's pad_token)"
                    ),
                )
            })?;
            // transformers' Gemma tokenizer pads on the left unless told otherwise.
            let side = config.get("padding_side").and_then(Value::as_str);
            let left = side.map_or(gemma, |s| s == "left");
            Some(Padding {
                id,
                left,
                masked: gemma,
            })
        } else {
            None
        };
        Ok(TextInput {
            tokenizer,
            padding,
            lowercase: gemma,
            context,
        })
    }

    /// The token ids of `text` as the tokenizer gives them (special tokens added,
    /// truncated to the context, not padded).
    pub fn ids(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.encode(text)?.get_ids().to_vec())
    }

    fn encode(&self, text: &str) -> Result<tokenizers::Encoding> {
        self.tokenizer.encode(text, true).map_err(|e| {
            crate::error::Error::model("tokenizer", format!("cannot tokenize {text:?}: {e}"))
        })
    }

    /// The text tower's input for `text`.
    pub fn tokens(&self, text: &str) -> Result<Tokens> {
        let text = if self.lowercase {
            text.to_lowercase()
        } else {
            text.to_string()
        };
        let mut ids = self.ids(&text)?;
        let Some(pad) = &self.padding else {
            return Ok(Tokens { ids, keys: None });
        };
        let n = ids.len().min(self.context);
        let fill = self.context - n;
        let mut keys = vec![true; n];
        if pad.left {
            ids.splice(0..0, std::iter::repeat_n(pad.id, fill));
            keys.splice(0..0, std::iter::repeat_n(false, fill));
        } else {
            ids.extend(std::iter::repeat_n(pad.id, fill));
            keys.extend(std::iter::repeat_n(false, fill));
        }
        Ok(Tokens {
            ids,
            keys: pad.masked.then_some(keys),
        })
    }
}

/// A special token in tokenizer_config.json: a string, or `{"content": ...}`.
fn token_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}
