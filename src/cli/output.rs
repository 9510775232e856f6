//! Where output goes (`Out`: results as text or JSON on stdout, messages on stderr). A closed
//! stdout (`lookalike query x | head -1`) ends the process quietly with status 0.

use serde_json::json;
use std::io::Write;

/// Where and how results go.
pub struct Out {
    /// Results as one JSON document instead of text.
    pub(super) json: bool,
    quiet: bool,
}

pub use lookalike::text::path_text;

impl Out {
    pub fn new(json: bool, quiet: bool) -> Self {
        Out { json, quiet }
    }

    /// Whether a progress bar may be drawn (it is drawn on a terminal only).
    pub fn shows_progress(&self) -> bool {
        !self.quiet && !self.json
    }

    pub(super) fn emit(&self, text: &str) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn emit_json(&self, value: &serde_json::Value) -> anyhow::Result<()> {
        let mut s = serde_json::to_string_pretty(value)?;
        s.push('\n');
        self.emit(&s)
    }

    /// A warning about one file (on stderr, unless quiet).
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }

    /// Something the user should know that is not a problem (stderr, unless quiet).
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("note: {message}");
        }
    }

    /// A fatal error, with its chain of causes.
    pub fn error(&self, e: &anyhow::Error) {
        eprintln!("error: {}", error_text(e));
    }

    /// An evaluation report as JSON, with the model it measured.
    pub(super) fn emit_report_json(
        &self,
        report: &impl serde::Serialize,
        model: &str,
    ) -> anyhow::Result<()> {
        let mut v = serde_json::to_value(report)?;
        v["model"] = json!(model);
        self.emit_json(&v)
    }
}

/// Refuses an output path that cannot be written (its folder is a file, or cannot be written
/// to), before any work is done; creates nothing.
pub fn check_writable(path: &std::path::Path) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    // The nearest folder that exists must be a folder we can write into.
    let mut existing = parent;
    while !existing.exists() {
        existing = match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
    }
    if !existing.is_dir() {
        anyhow::bail!(
            "cannot write {}: {} is not a folder",
            path.display(),
            existing.display()
        );
    }
    if path.is_dir() {
        anyhow::bail!("cannot write {}: it is a folder", path.display());
    }
    let probe = existing.join(format!(".lookalike-write-check-{}", std::process::id()));
    std::fs::File::create(&probe)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Refuses a folder option (`--move-to`, `--save-copies`) that names a file; the folder
/// may not exist yet (it is created when needed).
pub fn check_folder_target(option: &str, folder: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !folder.exists() || folder.is_dir(),
        "{option} {}: is a file, not a folder",
        folder.display()
    );
    Ok(())
}

/// An error and its causes on one line, each cause once: a library error that already
/// quotes its source (`PATH: No such file...`) is not followed by the source again.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Says which verifier decides when it is not the built-in one, or why the collection's
/// own cannot.
pub(super) fn note_own_verifier(own: lookalike::dedup::own_verifier::OwnVerifier, out: &Out) {
    match own {
        lookalike::dedup::own_verifier::OwnVerifier::NotUsed => {}
        lookalike::dedup::own_verifier::OwnVerifier::Used => out.note(
            "the verifier retrained on this collection's review decisions decides copies \
             (lookalike verifier adapt --forget: the built-in one)",
        ),
        lookalike::dedup::own_verifier::OwnVerifier::Unusable(e) => out.warn(&format!(
            "this collection's own verifier cannot be used ({e}): the built-in one decides; \
             `lookalike verifier adapt` makes a new one"
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        );
        let e: anyhow::Error = lookalike::Error::Io {
            path: "/missing-dir".into(),
            source: io,
        }
        .into();
        assert_eq!(
            super::error_text(&e),
            "/missing-dir: No such file or directory (os error 2)"
        );
        let e = anyhow::anyhow!("inner detail").context("outer");
        assert_eq!(super::error_text(&e), "outer: inner detail");
    }

    use lookalike::dedup::report::human_bytes;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1500), "1.5 KB");
        assert_eq!(human_bytes(2_500_000), "2.5 MB");
    }
}
