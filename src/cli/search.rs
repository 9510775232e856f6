//! `lookalike search`: photos found by words (and by example) with a pretrained model that
//! has a text tower (CLIP, SigLIP 2).

use super::output::Out;
use super::query::QueryResult;
use super::{pretrained, Globals, EXIT_OK};
use anyhow::{bail, Result};
use clap::Args;
use lookalike::index::cluster::ClusterIndex;
use lookalike::index::semantic;
use lookalike::index::Neighbor;
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
    /// Number of results (1 to 100,000)
    #[arg(allow_negative_numbers = true, short, long, default_value_t = 10, value_parser = super::numbers::count::<usize>(1..=100_000))]
    k: usize,
    /// The pretrained model to search with (a folder, or the name of a downloaded model; one
    /// the index holds); default: the one with a text tower added last
    #[arg(long, value_name = "DIR|NAME")]
    model: Option<PathBuf>,
}

/// Prints the photos that best match the text; exit status 2 if the index holds no model
/// with a text tower.
pub fn run(args: SearchArgs, globals: &Globals, out: &Out) -> Result<u8> {
    let folder = args.model.as_deref().map(pretrained::folder).transpose()?;
    if let Some(store) = &globals.store {
        // A collection of the built-in model (another is refused, naming both).
        let main = lookalike::Encoder::default_model()?.info().clone();
        let cluster = ClusterIndex::open(store, &main)?;
        let Some((info, model)) = pretrained::cluster_model(&cluster, folder.as_deref(), true)?
        else {
            bail!(
                "{store} holds no pretrained model: add one with `lookalike index DIR --model MODEL_FOLDER --store {store}` \
                 (a CLIP or SigLIP 2 folder; see `lookalike models list`)"
            );
        };
        let query = query_vector(&model, &args)?;
        let neighbors = cluster.semantic_nearest(&info, &query, args.k)?;
        return answer(&args, neighbors, out);
    }
    let index = Index::open(&globals.index, globals.wait)?;
    let Some((record, model)) = pretrained::semantic_model(&index, folder.as_deref(), true)? else {
        bail!(
            "the index at {} holds no pretrained model: add one with `lookalike index DIR --model MODEL_FOLDER` \
             (a CLIP or SigLIP 2 folder; see `lookalike models list`)",
            index.dir().display()
        );
    };
    let query = query_vector(&model, &args)?;
    let neighbors = semantic::nearest(&index, record.slot, &query, args.k, 0)?;
    answer(&args, neighbors, out)
}

/// The results of a search.
fn answer(args: &SearchArgs, neighbors: Vec<Neighbor>, out: &Out) -> Result<u8> {
    out.query_results(&[QueryResult {
        query: PathBuf::from(args.text.join(" ")),
        neighbors,
        copies: None,
    }])?;
    Ok(EXIT_OK)
}

/// The unit vector of the search: the text, plus the terms added, minus those subtracted.
fn query_vector(model: &Pretrained, args: &SearchArgs) -> Result<Vec<f32>> {
    if !model.info().text {
        // The error says why (no text tower, or no tokenizer).
        model.embed_text("")?;
    }
    let text = args.text.join(" ");
    let mut query = model.embed_text(&text)?;
    for (terms, sign) in [(&args.add, 1.0f32), (&args.subtract, -1.0)] {
        for term in terms {
            let v = term_vector(model, term)?;
            query.iter_mut().zip(&v).for_each(|(q, x)| *q += sign * x);
        }
    }
    lookalike::vector::normalised(query).ok_or_else(|| {
        anyhow::anyhow!("the query adds up to nothing (what is added is what is subtracted)")
    })
}

/// A term of a combined query: an existing file is an image, anything else a text, except a
/// name with an image extension (`beach.jpg`), which must be an existing file: a mistyped
/// path is not silently searched for as words.
fn term_vector(model: &Pretrained, term: &str) -> Result<Vec<f32>> {
    let path = Path::new(term);
    if path.is_file() {
        pretrained::embed_image(model, path)
    } else if lookalike::ingest::format::has_image_extension(path) {
        if path.exists() {
            bail!("{term}: a folder, not an image");
        }
        bail!("{term}: no such file (a term with an image extension must name an image)")
    } else {
        Ok(model.embed_text(term)?)
    }
}
