//! `lookalike serve`: the local web app and JSON API over one index, until Ctrl-C.

use super::output::Out;
use super::{interrupt_flag, note_rebuild, numbers, Globals, ModelArg, EXIT_OK};
use anyhow::{Context, Result};
use clap::Args;
use lookalike::dedup::DedupOptions;
use lookalike::index::cluster::ClusterIndex;
use lookalike::index::pipeline::IndexOptions;
use lookalike::ingest::decode;
use lookalike::ingest::scan::canonical_root;
use lookalike::serve::{self, Library, ServeOptions, MAX_UPLOAD_BYTES};
use lookalike::Index;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where `serve` listens unless told.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

/// The arguments of `serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Folders to re-index (and with --watch, to watch) besides those the index was built
    /// from (with --store, the only ones: a Milvus index records none)
    #[arg(value_name = "DIR")]
    roots: Vec<PathBuf>,
    /// Address and port to listen on (port 0: any free port). Any address but a loopback
    /// one needs a token
    #[arg(long, default_value = DEFAULT_LISTEN, value_name = "ADDR")]
    listen: SocketAddr,
    /// The token every request must carry (16 or more letters, digits, - or _) [default:
    /// none on a loopback address; a random one, printed at start, on any other]
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Re-index the folders when files under them change (two seconds after the last change)
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    model: ModelArg,
    /// Refuse images (uploads included) with more pixels than this
    #[arg(allow_negative_numbers = true, long, default_value_t = decode::DEFAULT_MAX_PIXELS, value_name = "N",
          value_parser = numbers::count(numbers::MAX_PIXELS))]
    max_pixels: u64,
}

/// Serves until Ctrl-C.
pub fn run(args: ServeArgs, globals: &Globals, out: &Out) -> Result<u8> {
    let ServeArgs {
        roots,
        listen,
        token,
        watch,
        model,
        max_pixels,
    } = args;
    if let Some(t) = &token {
        anyhow::ensure!(
            t.len() >= 16
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "--token must be 16 or more letters, digits, - or _"
        );
    }
    let roots = roots
        .iter()
        .map(|r| canonical_root(r).with_context(|| format!("folder to serve {}", r.display())))
        .collect::<Result<Vec<_>>>()?;
    let encoder = model.load()?;
    let background = encoder.background()?.cloned().map(Arc::new);
    let mut dedup = DedupOptions::scored_with(background);
    let library = match &globals.store {
        // Review decisions go beside the collection; journals of actions under --index.
        Some(store) => Library::cluster(
            ClusterIndex::open(store, encoder.info())?,
            globals.index.clone(),
        ),
        None => {
            let mut index = Index::open(&globals.index, globals.wait)?;
            index.check_model(encoder.info())?;
            // Queries scan the flat vector file; write it now if it is missing.
            index.neighbourhood()?;
            note_rebuild(&index, out);
            super::output::note_own_verifier(dedup.use_own_verifier(index.store())?, out);
            Library::folder(index)
        }
    };
    let bound = serve::bind(listen)?;
    let token = match token {
        Some(t) => Some(t),
        None if !serve::is_loopback(&bound.addr()) => Some(serve::new_token()?),
        None => None,
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let opts = ServeOptions {
        token: token.clone(),
        roots,
        watch,
        dedup,
        indexing: IndexOptions {
            max_pixels,
            ..IndexOptions::default()
        },
        max_upload_bytes: MAX_UPLOAD_BYTES,
        workers,
    };
    let url = match &token {
        Some(t) => format!("http://{}/?token={t}", bound.addr()),
        None => format!("http://{}/", bound.addr()),
    };
    out.emit(&format!("listening on {url}\n"))?;
    out.note("Ctrl-C stops the server");
    let stop = interrupt_flag(out);
    serve::serve(bound, library, encoder, opts, stop)?;
    Ok(EXIT_OK)
}
