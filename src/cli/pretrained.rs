//! The pretrained model that serves `query` and `search` on an index: which one, loaded
//! from the folder the index recorded, and embedding query images with it.

use anyhow::{bail, Context, Result};
use lookalike::index::cluster::ClusterIndex;
use lookalike::index::store::SemanticModel;
use lookalike::ingest::decode;
use lookalike::model::pretrained::hub::{self, Hub};
use lookalike::model::pretrained::{Pretrained, PretrainedInfo};
use lookalike::Index;
use std::path::{Path, PathBuf};

/// Whether `--model PATH` names a pretrained model: a folder, or (if no such file exists)
/// the name of one in the catalogue.
pub fn is_pretrained(path: &Path) -> bool {
    path.is_dir() || (!path.exists() && path.to_str().and_then(hub::find).is_some())
}

/// The folder of a pretrained model given as a folder or as a catalogue name (found in the
/// cache, without the network).
pub fn folder(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let name = path.to_string_lossy();
    let Some(entry) = hub::find(&name) else {
        bail!(
            "{name}: no such model folder, and no model of that name (see `lookalike models list`)"
        );
    };
    let hub = Hub::new(Hub::default_cache(), None);
    hub.cached(entry).with_context(|| {
        format!(
            "model {name} is not downloaded (cache: {}): run `lookalike models fetch {name}`",
            hub.cache().display()
        )
    })
}

/// The unit embedding of an image file by a pretrained model.
pub fn embed_image(model: &Pretrained, path: &Path) -> Result<Vec<f32>> {
    let pixels = model
        .prepare_file(path, decode::DEFAULT_MAX_PIXELS)
        .map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))?;
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
            // The last added (with a text tower, for text).
            let last_with_text = held.iter().rev().find(|m| m.info.text);
            let record = match (last_with_text, held.last()) {
                (Some(r), _) if text => r.clone(),
                (_, Some(r)) => r.clone(),
                (_, None) => return Ok(None),
            };
            let model = load_recorded(&record.info, &record.dir)?;
            Ok(Some((record, model)))
        }
    }
}

/// [`semantic_model`] for an index in a Milvus collection: the pretrained model in `folder`
/// if the collection holds its vectors, else the last added (with a text tower, for `text`).
pub fn cluster_model(
    cluster: &ClusterIndex,
    folder: Option<&Path>,
    text: bool,
) -> Result<Option<(PretrainedInfo, Pretrained)>> {
    let held = cluster.semantic_models()?;
    let store = cluster.url();
    match folder {
        Some(dir) => {
            let model = Pretrained::open(dir)?;
            if held.iter().all(|m| m.info != *model.info()) {
                bail!(
                    "{store} holds no vectors of {}: add them with `lookalike index DIR --model {} --store {store}`",
                    model.info().id(),
                    dir.display()
                );
            }
            Ok(Some((model.info().clone(), model)))
        }
        None => {
            let last_with_text = held.iter().rev().find(|m| m.info.text);
            let record = match (last_with_text, held.last()) {
                (Some(r), _) if text => r,
                (_, Some(r)) => r,
                (_, None) => return Ok(None),
            };
            Ok(Some((
                record.info.clone(),
                load_recorded(&record.info, &record.dir)?,
            )))
        }
    }
}

/// Loads a pretrained model the index holds (`info`) from the folder it recorded, checking
/// that it is the same.
pub fn load_recorded(info: &PretrainedInfo, dir: &Path) -> Result<Pretrained> {
    let model = Pretrained::open(dir).with_context(|| {
        format!(
            "the index's model {} was loaded from {}; pass --model with its folder",
            info.id(),
            dir.display()
        )
    })?;
    if model.info() != info {
        bail!(
            "{} now holds {}, not the index's model {}; pass --model with the folder of {}",
            dir.display(),
            model.info().id(),
            info.id(),
            info.name
        );
    }
    Ok(model)
}
