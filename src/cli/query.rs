//! `lookalike query`: the indexed images most similar to each query image, optionally marked
//! as copies of it the way `dedup` decides.

use super::output::{path_text, Out};
use super::{announce_rebuild, Globals, ModelArg};
use super::{EXIT_OK, EXIT_PARTIAL};
use anyhow::{Context, Result};
use clap::Args;
use lookalike::dedup::{self, CopyEvidence, DedupOptions};
use lookalike::index::cluster::ClusterIndex;
use lookalike::index::milvus::StoreUrl;
use lookalike::index::{semantic, Lookup, Neighbor};
use lookalike::ingest::decode::{self, DecodeOptions};
use lookalike::model::Task;
use lookalike::{Encoder, Index};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// The arguments of `query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// Query images (they need not be indexed)
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
    /// Number of results per query (1 to 100,000)
    #[arg(allow_negative_numbers = true, short, long, default_value_t = 10, value_parser = super::numbers::count::<usize>(1..=100_000))]
    k: usize,
    /// Mark the results that are copies of the query (the same picture, edited or not),
    /// decided as `dedup` decides: the copy head's score with the default threshold, then
    /// the content check. The results are then the nearest by the copy head (its cosine
    /// shown), where the copies are
    #[arg(long)]
    copies: bool,
    #[command(flatten)]
    model: ModelArg,
}

/// Query images up to which `query` scans the flat vector file instead of loading the graph.
const EXACT_QUERIES_MAX: usize = 16;

/// Prints the neighbours of each query image; exit status 1 if some could not be read.
pub fn run(args: QueryArgs, globals: &Globals, out: &Out) -> Result<u8> {
    let QueryArgs {
        images,
        k,
        copies,
        model,
    } = args;
    if let Some(store) = &globals.store {
        return cluster_query(store, &images, k, copies, &model, out);
    }
    // The index opens on a second thread (sled reads its page table: about 50 ms at
    // 100,000 images) while the model loads and the images are embedded.
    let (encoder, vectors, index) = std::thread::scope(|scope| {
        let opening = scope.spawn(|| Index::open(&globals.index, globals.wait));
        let embedded = model.load().and_then(|encoder| {
            let vectors = embed_queries(&encoder, &images)?;
            Ok((encoder, vectors))
        });
        let index = opening
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        embedded.map(|(encoder, vectors)| (encoder, vectors, index))
    })?;
    let mut index = index?;
    // A pretrained model the index holds serves queries (but not --copies: copies are the
    // built-in encoder's job, as in dedup); the built-in encoder's embeddings go unused.
    if !copies {
        let folder = model.pretrained()?;
        if let Some(code) = pretrained_query(&index, &images, k, folder.as_deref(), out)? {
            return Ok(code);
        }
    }
    index.check_model(encoder.info())?;
    // A few queries scan the flat vector file (exact, no graph to load); many
    // queries amortise loading the graph, except with a two-head model, whose graph
    // is built for dedup (its queries always scan the flat file).
    let many = images.len() > EXACT_QUERIES_MAX && !encoder.info().has_two_heads();
    if many || !index.can_search_exactly() {
        announce_rebuild(&mut index, out)?;
    }
    // With --copies, each result is checked as dedup checks a pair, with the scoring
    // dedup would use for this index and model.
    let decision = if copies {
        let background = encoder.background()?.cloned().map(Arc::new);
        let mut opts = DedupOptions::scored_with(background);
        super::output::note_own_verifier(opts.use_own_verifier(index.store())?, out);
        Some(opts)
    } else {
        None
    };
    answer(
        &mut index,
        &images,
        vectors,
        k,
        copies,
        decision.as_ref(),
        out,
    )
}

/// Whether each neighbour of the query image `path` is a copy of it, decided as `dedup`
/// decides a pair.
fn copy_marks(
    index: &dyn Lookup,
    opts: &DedupOptions,
    path: &std::path::Path,
    prepared: &decode::PreparedImage,
    vector: &[f32],
    neighbors: &[Neighbor],
) -> Result<Vec<Option<CopyEvidence>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let probe = dedup::Probe::new(&bytes, prepared, vector.to_vec());
    Ok(neighbors
        .iter()
        .map(|n| dedup::copy_of(index, opts, &probe, &n.path))
        .collect::<Result<Vec<_>, _>>()?)
}

/// [`run`] on an index kept in a Milvus collection (top-k by the query head).
fn cluster_query(
    store: &StoreUrl,
    images: &[PathBuf],
    k: usize,
    copies: bool,
    model: &ModelArg,
    out: &Out,
) -> Result<u8> {
    let encoder = model.load()?;
    let cluster = ClusterIndex::open(store, encoder.info())?;
    // As from the index folder: a pretrained model the collection holds serves queries
    // (not --copies).
    if !copies {
        let folder = model.pretrained()?;
        if let Some((info, pretrained)) =
            super::pretrained::cluster_model(&cluster, folder.as_deref(), false)?
        {
            let mut results = Vec::new();
            for path in images {
                match super::pretrained::embed_image(&pretrained, path) {
                    Ok(vector) => results.push(QueryResult {
                        query: path.clone(),
                        neighbors: cluster.semantic_nearest(&info, &vector, k)?,
                        copies: None,
                    }),
                    Err(e) => out.warn(&format!("{e:#}")),
                }
            }
            return finish(results, images.len(), out);
        }
    }
    let vectors = embed_queries(&encoder, images)?;
    // The built-in pair verifier decides (a collection's retrained one lives in an index
    // folder).
    let background = encoder.background()?.cloned().map(Arc::new);
    let decision = copies.then(|| DedupOptions::scored_with(background));
    let mut cluster = cluster;
    answer(
        &mut cluster,
        images,
        vectors,
        k,
        copies,
        decision.as_ref(),
        out,
    )
}

/// Answers each embedded query image: its `k` nearest (by the copy head with `copies`, where
/// dedup looks for copies), marked as copies or not when `decision` says how to decide.
fn answer(
    index: &mut dyn Lookup,
    images: &[PathBuf],
    vectors: Vec<std::result::Result<Embedded, String>>,
    k: usize,
    copies: bool,
    decision: Option<&DedupOptions>,
    out: &Out,
) -> Result<u8> {
    let mut results = Vec::new();
    for (path, embedded) in images.iter().zip(vectors) {
        let (vector, prepared) = match embedded {
            Ok(embedded) => embedded,
            Err(warning) => {
                out.warn(&warning);
                continue;
            }
        };
        let task = if copies { Task::Copy } else { Task::Query };
        let neighbors = index.nearest_by(&vector, k, task)?;
        let marks = match decision {
            Some(opts) => Some(copy_marks(
                &*index, opts, path, &prepared, &vector, &neighbors,
            )?),
            None => None,
        };
        results.push(QueryResult {
            query: path.clone(),
            neighbors,
            copies: marks,
        });
    }
    finish(results, images.len(), out)
}

/// Queries with the pretrained model that serves queries on this index; `None` if it holds
/// none (and none was asked for).
fn pretrained_query(
    index: &Index,
    images: &[PathBuf],
    k: usize,
    folder: Option<&std::path::Path>,
    out: &Out,
) -> Result<Option<u8>> {
    let Some((record, model)) = super::pretrained::semantic_model(index, folder, false)? else {
        return Ok(None);
    };
    let mut results = Vec::new();
    for path in images {
        match super::pretrained::embed_image(&model, path) {
            Ok(vector) => results.push(QueryResult {
                query: path.clone(),
                neighbors: semantic::nearest(index, record.slot, &vector, k, 0)?,
                copies: None,
            }),
            Err(e) => out.warn(&format!("{e:#}")),
        }
    }
    finish(results, images.len(), out).map(Some)
}

/// Prints the results; exit status 1 if some of the `asked` images could not be read.
fn finish(results: Vec<QueryResult>, asked: usize, out: &Out) -> Result<u8> {
    out.query_results(&results)?;
    Ok(if results.len() < asked {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    })
}

/// A query image's descriptor and its picture as prepared for the encoder.
type Embedded = (Vec<f32>, decode::PreparedImage);

/// Each query image embedded, or the warning for an image that cannot be read (printed
/// only if the built-in encoder's answer is the one given).
fn embed_queries(
    encoder: &Encoder,
    images: &[PathBuf],
) -> Result<Vec<std::result::Result<Embedded, String>>> {
    let opts = DecodeOptions::new(encoder.info().input_size as u32);
    let prepared = decode::prepare_files(images, &opts);
    let mut vectors = Vec::with_capacity(images.len());
    for (path, image) in images.iter().zip(prepared) {
        match image {
            Ok(img) => {
                let vector = encoder
                    .embed(std::slice::from_ref(&img))?
                    .pop()
                    .flatten()
                    .with_context(|| {
                        format!(
                            "{}: the encoder produced an unusable embedding",
                            path.display()
                        )
                    })?;
                vectors.push(Ok((vector, img)));
            }
            Err(reason) => vectors.push(Err(format!("{}: {reason}", path.display()))),
        }
    }
    Ok(vectors)
}

/// The results of one query: its neighbours, best first, and with `query --copies`, for
/// each neighbour, why it is a copy of the query (`None`: it is not).
pub struct QueryResult {
    pub query: PathBuf,
    pub neighbors: Vec<Neighbor>,
    pub copies: Option<Vec<Option<CopyEvidence>>>,
}

impl Out {
    pub fn query_results(&self, results: &[QueryResult]) -> anyhow::Result<()> {
        if self.json {
            let v = json!({
                "results": results.iter().map(|r| json!({
                    "query": path_text(&r.query),
                    "neighbors": r.neighbors.iter().enumerate().map(|(i, n)| {
                        let mut neighbor = json!({
                            "path": path_text(&n.path),
                            "similarity": n.similarity,
                        });
                        if let Some(copies) = &r.copies {
                            let evidence = &copies[i];
                            neighbor["copy"] = json!(evidence.is_some());
                            if let Some(e) = evidence {
                                neighbor["copy_evidence"] = json!(e);
                            }
                        }
                        neighbor
                    }).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()
            });
            return self.emit_json(&v);
        }
        let mut s = String::new();
        for r in results {
            s.push_str(&format!("{}\n", path_text(&r.query)));
            if r.neighbors.is_empty() {
                s.push_str("  (the index is empty)\n");
            }
            for (i, n) in r.neighbors.iter().enumerate() {
                let mark = match r.copies.as_ref().map(|c| c[i].clone()) {
                    None => "",
                    Some(None) => "        ",
                    Some(Some(e)) if e.exact => "exact   ",
                    Some(Some(_)) => "copy    ",
                };
                s.push_str(&format!(
                    "  {:.4}  {mark}{}\n",
                    n.similarity,
                    path_text(&n.path)
                ));
            }
        }
        self.emit(&s)
    }
}
