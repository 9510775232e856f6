//! `lookalike search`: photos found by words (and by example) with a pretrained model that
//! has a text tower (CLIP, SigLIP 2), and the choice of the pretrained model that serves
//! `query` and `search`.

use super::output::Out;
use super::query::QueryResult;
use super::{Globals, EXIT_OK};
use anyhow::{bail, Context, Result};
use clap::Args;
use lookalike::index::semantic;
use lookalike::index::store::SemanticModel;
use lookalike::ingest::decode::{self, DecodeOptions};
use lookalike::model::pretrained::Pretrained;
use lookalike::Index;
use std::path::{Path, PathBuf};

/// The arguments of `search`.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// What to look for, in words ("a dog on the beach"); several words join into one text
    #[arg(required = true, value_name = "TEXT")]
    text: Vec<String>,
    /// Also look like this: a text, or the path of an image (repeatable)
    #[arg(long, value_name = "TEXT|IMAGE")]
    add: Vec<String>,
    /// And not like this: a text, or the path of an image (repeatable)
    #[arg(long, value_name = "TEXT|IMAGE")]
    subtract: Vec<String>,
    /// Number of results
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    k: u64,
    /// The pretrained model folder to search with (one the index holds); default: the one
    /// added last
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
}

/// Prints the photos that best match the text; exit status 2 if the index holds no model
/// with a text tower.
pub fn run(args: SearchArgs, globals: &Globals, out: &Out) -> Result<u8> {
    let index = Index::open(&globals.index, globals.wait)?;
    let Some((record, model)) = semantic_model(&index, args.model.as_deref(), true)? else {
        bail!(
            "the index at {} holds no pretrained model: add one with `lookalike index DIR --model MODEL_FOLDER` \
             (a CLIP or SigLIP 2 folder; see `lookalike models list`)",
            index.dir().display()
        );
    };
    if !model.info().text {
        // The error says why (no text tower, or no tokenizer).
        model.embed_text("")?;
    }
    let text = args.text.join(" ");
    let mut query = model.embed_text(&text)?;
    for (terms, sign) in [(&args.add, 1.0f32), (&args.subtract, -1.0)] {
        for term in terms {
            let v = term_vector(&model, term)?;
            query.iter_mut().zip(&v).for_each(|(q, x)| *q += sign * x);
        }
    }
    let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm.is_nan() || norm <= 1e-6 {
        bail!("the query adds up to nothing (what is added is what is subtracted)");
    }
    query.iter_mut().for_each(|x| *x /= norm);
    let neighbors = semantic::nearest(&index, record.slot, &query, args.k as usize, 0)?;
    out.query_results(&[QueryResult {
        query: PathBuf::from(text),
        neighbors,
        copies: None,
    }])?;
    Ok(EXIT_OK)
}

/// A term of a combined query: an existing file is an image, anything else a text.
fn term_vector(model: &Pretrained, term: &str) -> Result<Vec<f32>> {
    let path = Path::new(term);
    if path.is_file() {
        Ok(embed_image(model, path)?)
    } else {
        Ok(model.embed_text(term)?)
    }
}

/// The unit embedding of an image file by a pretrained model.
pub fn embed_image(model: &Pretrained, path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let side = model.info().input_size as u32;
    let rgb = decode::decode_upright(&bytes, model.decode_side(), &DecodeOptions::new(side))
        .map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))?;
    let pixels = model.prepare(&rgb);
    Ok(model
        .embed_pixels(&pixels, 1)?
        .pop()
        .expect("one embedding per image"))
}

/// The pretrained model that serves `query` and `search` on this index, loaded: the one in
/// `folder` (which the index must hold), else the one added last (with a text tower, if
/// `text`); `None` if the index holds none.
pub fn semantic_model(
    index: &Index,
    folder: Option<&Path>,
    text: bool,
) -> Result<Option<(SemanticModel, Pretrained)>> {
    let held = index.store().semantic_models()?;
    match folder {
        Some(dir) => {
            let model = Pretrained::open(dir)?;
            let Some(record) = held.into_iter().find(|m| m.info == *model.info()) else {
                bail!(
                    "the index at {} holds no vectors of {}: add them with `lookalike index DIR --model {}`",
                    index.dir().display(),
                    model.info().id(),
                    dir.display()
                );
            };
            Ok(Some((record, model)))
        }
        None => {
            let last_with_text = held.iter().rev().find(|m| m.info.text).cloned();
            let record = match last_with_text {
                Some(r) if text => r,
                _ => match semantic::chosen(index, None)? {
                    Some(r) => r,
                    None => return Ok(None),
                },
            };
            let model = load_recorded(&record)?;
            Ok(Some((record, model)))
        }
    }
}

/// Loads a pretrained model from the folder the index recorded, checking that it is the same.
pub fn load_recorded(record: &SemanticModel) -> Result<Pretrained> {
    let model = Pretrained::open(&record.dir).with_context(|| {
        format!(
            "the index's model {} was loaded from {}; pass --model with its folder",
            record.info.id(),
            record.dir.display()
        )
    })?;
    if model.info() != &record.info {
        bail!(
            "{} now holds {}, not the index's model {}; pass --model with the folder of {}",
            record.dir.display(),
            model.info().id(),
            record.info.id(),
            record.info.name
        );
    }
    Ok(model)
}
