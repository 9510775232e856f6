//! `lookalike serve`: a local web app and JSON API over one index, held for as long as the
//! server runs: search by example, review duplicate groups (decisions kept in the index),
//! act on the accepted ones with the journal and undo of the CLI, re-index (by request, or
//! on file changes with `watch`).
//!
//! - [`security`]: who may ask (loopback or a token), cross-site request and DNS-rebinding
//!   guards, the response headers (a strict Content-Security-Policy);
//! - [`api`]: the JSON endpoints;
//! - [`files`]: indexed files and their thumbnails (only paths the index holds), the
//!   embedded page;
//! - [`jobs`]: the background work: finding the duplicate groups, re-indexing, watching;
//! - [`library`]: the index answered from, an index folder or a Milvus collection.
//!
//! The server never prints: the caller learns the address from [`Bound::addr`] and the
//! outcome of a re-index from the API.

mod api;
mod files;
mod jobs;
mod library;
mod security;

pub use library::Library;

use crate::dedup::DedupOptions;
use crate::error::{Error, Result};
use crate::index::pipeline::IndexOptions;
use crate::model::Encoder;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest upload accepted for a query (bytes).
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;

/// How to serve.
#[derive(Clone)]
pub struct ServeOptions {
    /// Needed on every request when set (always set off loopback).
    pub token: Option<String>,
    /// Folders to re-index besides those the index records.
    pub roots: Vec<PathBuf>,
    /// Re-index the roots when files change under them.
    pub watch: bool,
    /// How to decide copies (`dedup`'s defaults for the model).
    pub dedup: DedupOptions,
    /// How to re-index.
    pub indexing: IndexOptions,
    /// Largest upload accepted for a query.
    pub max_upload_bytes: usize,
    /// Decodes and embeddings run at once (the rest wait their turn).
    pub workers: usize,
}

/// A listening socket, before serving.
pub struct Bound {
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl Bound {
    /// The address it listens on (with the port chosen when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Listens on `addr`.
pub fn bind(addr: SocketAddr) -> Result<Bound> {
    let listen_error = |source: std::io::Error| Error::Listen { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(listen_error)?;
    listener.set_nonblocking(true).map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    Ok(Bound { listener, addr })
}

/// Whether a server at `addr` may run without a token: it listens on a loopback address.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// A random token: 32 hex digits from the OS's random source.
pub fn new_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io(std::path::Path::new("/dev/urandom"), e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What every request handler shares.
pub(crate) struct Shared {
    /// The index, held for the server's life.
    library: Library,
    encoder: Encoder,
    opts: ServeOptions,
    addr: SocketAddr,
    /// The threads that decode and embed (`opts.workers` of them), see [`Shared::on_cpu`].
    cpu: rayon::ThreadPool,
    groups: Mutex<jobs::GroupsState>,
    /// Bumped when an action or an undo moved files: the groups are out of date.
    files_changed: std::sync::atomic::AtomicU64,
    reindex: Mutex<jobs::ReindexState>,
    thumbnails: Mutex<files::ThumbnailCache>,
    /// `info`'s figures, refreshed after each re-index (reading them needs the index).
    stats: Mutex<serde_json::Value>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    /// Runs decoding and embedding on the server's few CPU threads, in turn. The work stays on
    /// those threads: each thread keeps the memory it freed for reuse (the allocator is told
    /// to), and spread over the many threads of tokio's blocking pool, 32 clients' uploads
    /// held 900 MB more than one client's.
    async fn on_cpu<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // A panic in a rayon job would abort the process: it is carried back to the request's
        // task instead, which tokio contains (that connection closes; the server goes on).
        self.cpu.spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
        });
        match rx.await.expect("the CPU threads answer every job") {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Serves `library` on `bound` until `stop` is set. Its index must have been opened (and
/// checked against `encoder`) by the caller.
pub fn serve(
    bound: Bound,
    library: Library,
    encoder: Encoder,
    opts: ServeOptions,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let stats = library.stats()?;
    let shared = Arc::new(Shared {
        library,
        encoder,
        addr: bound.addr,
        cpu: rayon::ThreadPoolBuilder::new()
            .num_threads(opts.workers.max(1))
            .thread_name(|i| format!("lookalike-serve-cpu-{i}"))
            .build()
            .map_err(|e| Error::Listen {
                addr: bound.addr,
                source: std::io::Error::other(e),
            })?,
        opts,
        groups: Mutex::new(jobs::GroupsState::default()),
        files_changed: Default::default(),
        reindex: Mutex::new(jobs::ReindexState::default()),
        thumbnails: Mutex::new(files::ThumbnailCache::default()),
        stats: Mutex::new(stats),
        stop: stop.clone(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("lookalike-serve")
        .enable_all()
        .build()
        .map_err(|e| Error::Listen {
            addr: bound.addr,
            source: e,
        })?;
    // The duplicate groups are found at once, for the duplicates page to open ready.
    let _ = jobs::groups(&shared);
    let _watch = if shared.opts.watch {
        Some(jobs::watch(shared.clone())?)
    } else {
        None
    };
    let server = shared.clone();
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::from_std(bound.listener).map_err(|e| Error::Listen {
                addr: bound.addr,
                source: e,
            })?;
        let app = api::router(server);
        let stopping = async move {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(stopping)
            .await
            .map_err(|e| Error::Listen {
                addr: bound.addr,
                source: e,
            })
    })?;
    // A re-index in progress stops at its next batch and commits what it has.
    shared.stop.store(true, Ordering::SeqCst);
    jobs::wait_for_reindex(&shared);
    Ok(())
}
