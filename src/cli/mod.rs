//! Command-line front end: global options, the list of commands and their dispatch, exit codes
//! (each command's arguments, work and output are in its own file). Only this module prints;
//! it holds no logic the library should own. Entry point: [`main`].

mod catalogue;
mod dedup;
mod eval;
mod index;
mod inspect;
mod models;
mod numbers;
mod output;
mod pretrained;
mod progress;
mod query;
mod search;
mod serve;
mod verifier;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use lookalike::index::lock::Wait;
use lookalike::index::milvus::StoreUrl;
use lookalike::index::DEFAULT_INDEX_DIR;
use lookalike::{Encoder, Index};
use output::Out;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the command finished, but some files could not be processed.
pub const EXIT_PARTIAL: u8 = 1;
/// Exit status: usage error or fatal error.
pub const EXIT_FATAL: u8 = 2;
/// Exit status: another process holds the index (EX_TEMPFAIL: try again later).
pub const EXIT_BUSY: u8 = 75;
/// Exit status: stopped by Ctrl-C (128 + SIGINT); what was done is kept.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser, Debug)]
#[command(
    name = "lookalike",
    version,
    about = "Find similar and duplicate images with a neural image encoder",
    long_about = "Find similar and duplicate images with a neural image encoder.\n\n\
        Index folders of photos, then ask for the lookalikes of any image or list duplicate \
        groups. The default encoder is built into the binary.",
    after_help = "Exit status: 0 success, 1 finished but some files were skipped, 2 error, \
        75 the index is in use by another process, 130 interrupted (work done so far is kept)."
)]
struct Cli {
    /// Index folder
    #[arg(long, global = true, default_value = DEFAULT_INDEX_DIR, value_name = "PATH")]
    index: PathBuf,
    /// Keep the index in a Milvus collection instead of the index folder (`index`, `query`,
    /// `search`, `dedup`, `serve`, `info` and `verify`; see docs/scale.md)
    #[arg(
        long,
        global = true,
        env = "LOOKALIKE_STORE",
        value_name = "milvus://HOST:PORT/NAME"
    )]
    store: Option<StoreUrl>,
    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    json: bool,
    /// No progress bar and no per-file warnings (errors are still printed)
    #[arg(long, short, global = true)]
    quiet: bool,
    /// If another process is using the index, wait for it (at most SECS seconds if given)
    /// instead of failing with exit status 75
    #[arg(long, global = true, value_name = "SECS", num_args = 0..=1, require_equals = true)]
    wait: Option<Option<u64>>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct ModelArg {
    /// Encoder weights (safetensors), default: the encoder built into lookalike; or a
    /// pretrained model folder (CLIP, SigLIP, DINOv2 in the Hugging Face layout) that serves
    /// `query` and `search` beside the built-in encoder
    #[arg(long, value_name = "FILE|DIR")]
    model: Option<PathBuf>,
}

impl ModelArg {
    /// The main encoder: the file given, else the built-in one (also when a pretrained
    /// model is given: it works beside the built-in encoder).
    fn load(&self) -> Result<Encoder> {
        Ok(match &self.model {
            Some(path) if !pretrained::is_pretrained(path) => Encoder::from_file(path)?,
            _ => Encoder::default_model()?,
        })
    }

    /// The pretrained model's folder, if one was given (a folder, or the name of a
    /// downloaded model).
    fn pretrained(&self) -> Result<Option<PathBuf>> {
        match &self.model {
            Some(path) if pretrained::is_pretrained(path) => Ok(Some(pretrained::folder(path)?)),
            _ => Ok(None),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Add folders (or files) to the index; re-running only embeds what is new or changed
    Index(index::IndexArgs),
    /// Show the indexed images most similar to each given image
    Query(query::QueryArgs),
    /// List groups of duplicates (exact, same-shot, near-exact and copy, with other shots of a
    /// scene as similar-shot), and optionally move, hard-link, trash or delete the copies (a
    /// dry run unless --yes)
    Dedup(dedup::DedupArgs),
    /// Reverse the moves (and trashing) recorded in a dedup journal
    Undo(dedup::UndoArgs),
    /// Print the embedding of an image
    Embed(inspect::EmbedArgs),
    /// Show what the index holds
    Info,
    /// Drop the records of files deleted from disk and rebuild the graph without them
    /// (`index` does this by itself for the folders it scans, and rebuilds the graph when a
    /// quarter of its points are dead)
    Compact,
    /// Check that the index is consistent (every record, counter and graph point); exit
    /// status 2 if it is not
    Verify,
    /// Train a descriptor contrastively on unlabelled photos (two augmented views of each
    /// photo are a positive pair; the other photos of the batch are negatives)
    Train(models::TrainArgs),
    /// Give a model a background set described from unrelated photos (written into a copy of
    /// the model file): dedup and `eval copies` then score pairs by normalised similarity
    Calibrate(models::CalibrateArgs),
    /// Join two trained models into one with a head per task: QUERY's descriptor for
    /// `query`, COPY's for `dedup` and `eval copies` (both trained from the same --init with
    /// the same --freeze-blocks; the blocks they share run once)
    Combine(models::CombineArgs),
    /// Measure quality: retrieval on labelled folders, copy detection on generated copies
    Eval(eval::EvalArgs),
    /// List the pretrained models lookalike knows (CLIP, SigLIP 2, DINOv2) and download them
    Models(catalogue::ModelsArgs),
    /// Find photos by words with a pretrained model that has a text tower (CLIP, SigLIP 2),
    /// optionally adding or subtracting texts and images
    Search(search::SearchArgs),
    /// Serve a local web app and JSON API over the index until Ctrl-C: search by example,
    /// review duplicate groups (decisions kept in the index), act on them, re-index
    Serve(serve::ServeArgs),
    /// The pair verifier of dedup: make labelled pairs from folders of distinct pictures,
    /// train it, measure it by leaving one domain out
    Verifier(verifier::VerifierArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    progress::quiet_decoder_panics();
    let cli = Cli::parse();
    let out = Out::new(cli.json, cli.quiet);
    match run(cli, &out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            out.error(&e);
            let busy = matches!(
                e.downcast_ref::<lookalike::Error>(),
                Some(lookalike::Error::Busy { .. })
            );
            ExitCode::from(if busy { EXIT_BUSY } else { EXIT_FATAL })
        }
    }
}

impl Cli {
    fn lock_wait(&self) -> Wait {
        match self.wait {
            None => Wait::No,
            Some(None) => Wait::Forever,
            Some(Some(secs)) => Wait::For(Duration::from_secs(secs)),
        }
    }
}

/// The first Ctrl-C sets the returned flag (long commands finish their current step, keep
/// what is done and exit with status 130); a second one exits at once.
fn interrupt_flag(out: &Out) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    let quiet = !out.shows_progress();
    let installed = ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED.into());
        }
        if !quiet {
            eprintln!("\ninterrupted: saving what is done (Ctrl-C again to quit at once)");
        }
    });
    if let Err(e) = installed {
        out.warn(&format!("Ctrl-C will not save work in progress: {e}"));
    }
    flag
}

/// The global options a command may need.
struct Globals {
    /// The index folder (`--index`).
    index: PathBuf,
    /// What to do when another process holds the index (`--wait`).
    wait: Wait,
    /// The Milvus collection that holds the index instead (`--store`).
    store: Option<StoreUrl>,
}

/// Runs the chosen command; its exit status.
fn run(cli: Cli, out: &Out) -> Result<u8> {
    let globals = Globals {
        wait: cli.lock_wait(),
        index: cli.index,
        store: cli.store,
    };
    if let Some(store) = &globals.store {
        if !matches!(
            cli.command,
            Command::Index(_)
                | Command::Query(_)
                | Command::Info
                | Command::Verify
                | Command::Search(_)
                | Command::Dedup(_)
                | Command::Serve(_)
        ) {
            anyhow::bail!(
                "--store {store}: only `index`, `query`, `search`, `dedup`, `serve`, `info` and \
                 `verify` work with a Milvus store in this version; the other commands read the index folder \
                 (--index)"
            );
        }
    }
    match cli.command {
        Command::Index(args) => index::run(args, &globals, out),
        Command::Query(args) => query::run(args, &globals, out),
        Command::Dedup(args) => dedup::run(args, &globals, out),
        Command::Undo(args) => dedup::undo(args, out),
        Command::Embed(args) => inspect::embed(args, out),
        Command::Info => inspect::info(&globals, out),
        Command::Compact => inspect::compact(&globals, out),
        Command::Verify => inspect::verify(&globals, out),
        Command::Train(args) => models::train(args, out),
        Command::Calibrate(args) => models::calibrate(args, out),
        Command::Combine(args) => models::combine(args, out),
        Command::Eval(args) => eval::run(args, out),
        Command::Serve(args) => serve::run(args, &globals, out),
        Command::Search(args) => search::run(args, &globals, out),
        Command::Models(args) => catalogue::run(args, out),
        Command::Verifier(args) => verifier::run(args, &globals, out),
    }
}

/// Loads the graph, telling the user when it had to be rebuilt from the database.
fn announce_rebuild(index: &mut Index, out: &Out) -> Result<()> {
    index.graph()?;
    note_rebuild(index, out);
    Ok(())
}

/// Tells the user when the graph had to be rebuilt from the database (by work that needed it).
fn note_rebuild(index: &Index, out: &Out) {
    if let Some(problem) = index.graph_rebuilt_because() {
        out.note(&format!("{problem}: rebuilt the graph from the database"));
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::Parser;

    /// Every numeric option given a value: each parser's type must be the field's, which clap
    /// checks only when the value is read (a mismatch is a panic, not a compile error).
    #[test]
    fn every_numeric_option_parses_into_its_field() {
        for line in [
            "index d --batch-size 3 --threads 2 --max-pixels 5",
            "query a.jpg -k 3",
            "search words -k 3",
            "dedup --near-exact 2.5 --threshold -0.5",
            "serve --max-pixels 7",
            "info --wait=3",
            "eval copies d --max-side 64 --seed 3",
            "calibrate d --model m --out o --max-images 9 --seed 2",
            "train d --out o --epochs 2 --batch-size 4 --input-size 64 --dim 16 --lr 0.01 \
             --warmup-steps 3 --temperature 0.2 --koleo 0 --queue 8 --hard-negatives 2 \
             --freeze-blocks 12 --distill 1 --seed 4 --checkpoint-minutes 0.5 \
             --background-images 0",
        ] {
            let args = std::iter::once("lookalike").chain(line.split_whitespace());
            if let Err(e) = Cli::try_parse_from(args) {
                panic!("{line}: {e}");
            }
        }
    }
}
