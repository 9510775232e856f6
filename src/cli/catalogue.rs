//! `lookalike models list` and `lookalike models fetch NAME`: the pretrained models
//! lookalike knows, and their download into the local cache.

use super::output::{path_text, Out};
use super::{progress, EXIT_OK};
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use lookalike::model::pretrained::hub::{self, Hub, CATALOGUE};
use serde_json::json;
use std::path::PathBuf;

/// The arguments of `models`.
#[derive(Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
    /// The model cache [default: $LOOKALIKE_MODELS, else ~/.cache/lookalike/models]
    #[arg(long, global = true, value_name = "DIR")]
    cache: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum ModelsCommand {
    /// The models lookalike can fetch, and which are in the cache
    List,
    /// Download a model into the cache (resumed if interrupted; checksums checked) and
    /// print its folder; then pass `--model NAME` to `index`, `query` and `search`
    Fetch {
        /// The model's short name (see `models list`) or its repository
        name: String,
        /// Use only the cache: fail if the model is not there (no network)
        #[arg(long)]
        offline: bool,
    },
}

pub fn run(args: ModelsArgs, out: &Out) -> Result<u8> {
    let hub = Hub::new(
        args.cache.unwrap_or_else(Hub::default_cache),
        std::env::var("HF_ENDPOINT").ok(),
    );
    match args.command {
        ModelsCommand::List => list(&hub, out),
        ModelsCommand::Fetch { name, offline } => fetch(&hub, &name, offline, out),
    }
}

fn list(hub: &Hub, out: &Out) -> Result<u8> {
    let rows: Vec<_> = CATALOGUE.iter().map(|e| (e, hub.cached(e))).collect();
    if out.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(e, cached)| {
                let mut v = serde_json::to_value(e).expect("serialises");
                v["folder"] = json!(cached.as_ref().map(|p| path_text(p)));
                v
            })
            .collect();
        out.emit_json(&json!({"cache": path_text(hub.cache()), "models": v}))?;
        return Ok(EXIT_OK);
    }
    let mut s = format!(
        "{:<26} {:<7} {:<5} {:>4} {:>8}  {:<11} {}\n",
        "name", "family", "text", "dim", "size", "licence", "repository"
    );
    for (e, cached) in &rows {
        s.push_str(&format!(
            "{:<26} {:<7} {:<5} {:>4} {:>5} MB  {:<11} {}{}\n",
            e.name,
            e.family.name(),
            if e.text { "yes" } else { "no" },
            e.dim,
            e.size_mb,
            e.licence,
            e.repo,
            if cached.is_some() {
                "  (downloaded)"
            } else {
                ""
            }
        ));
    }
    s.push_str(&format!("cache: {}\n", path_text(hub.cache())));
    out.emit(&s)?;
    Ok(EXIT_OK)
}

fn fetch(hub: &Hub, name: &str, offline: bool, out: &Out) -> Result<u8> {
    let Some(entry) = hub::find(name) else {
        bail!("no model named {name}; `lookalike models list` shows the names");
    };
    let folder = match hub.cached(entry) {
        Some(folder) => {
            out.note(&format!("{name} is in the cache"));
            folder
        }
        None if offline => bail!(
            "{name} is not in the cache ({}); run without --offline to download it",
            hub.cache().display()
        ),
        None => {
            let bar = progress::Bar::new(out.shows_progress());
            let folder = hub.fetch(entry, &bar)?;
            bar.finish();
            folder
        }
    };
    if out.json {
        out.emit_json(
            &json!({"name": entry.name, "repo": entry.repo, "folder": path_text(&folder)}),
        )?;
    } else {
        out.emit(&format!("{}\n", path_text(&folder)))?;
    }
    Ok(EXIT_OK)
}
