//! The progress bar of `index` (indicatif), and keeping contained decoder panics quiet.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use lookalike::ingest::decode::DECODE_THREAD_PREFIX;
use lookalike::progress::Progress;
use lookalike::SkipReason;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When stderr is not a terminal (a log file), a status line is written this often instead.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// A progress bar on stderr (drawn only on a terminal) that also prints per-file warnings.
/// When stderr is redirected, long runs write a plain status line every minute instead.
pub struct Bar {
    bar: ProgressBar,
    warn: bool,
    /// Time of the last logged line, when logging instead of drawing.
    log: Option<Mutex<Instant>>,
}

impl Bar {
    pub fn new(visible: bool) -> Bar {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} scanning {wide_msg}").expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        let log = (visible && !std::io::stderr().is_terminal()).then(|| Mutex::new(Instant::now()));
        Bar {
            bar,
            warn: visible,
            log,
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, stage: &str, total: usize) {
        self.bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len}  {rate}  ETA {eta}")
                .expect("valid template")
                .with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.1}/s", state.per_sec());
                    },
                ),
        );
        self.bar.set_length(total as u64);
        self.bar.set_position(0);
        self.bar.reset_eta();
        self.bar.set_message(stage.to_string());
    }

    fn advance(&self, n: usize) {
        self.bar.inc(n as u64);
    }

    fn status(&self, text: &str) {
        self.bar.set_message(text.to_string());
        if let Some(last) = &self.log {
            let mut last = last.lock().expect("log time lock");
            if last.elapsed() >= LOG_EVERY {
                *last = Instant::now();
                let eta = self.bar.eta().as_secs();
                eprintln!(
                    "[{}/{}, ETA {}:{:02}] {text}",
                    self.bar.position(),
                    self.bar.length().unwrap_or(0),
                    eta / 60,
                    eta % 60
                );
            }
        }
    }

    fn skipped(&self, path: &Path, reason: &SkipReason) {
        if self.warn {
            self.bar.suspend(|| {
                eprintln!("skipped {}: {reason}", super::output::path_text(path));
            });
        }
    }
}

/// Panics on decode threads are caught and reported as a skipped file; the default hook
/// would print them as if the program had crashed.
pub fn quiet_decoder_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let on_decoder = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with(DECODE_THREAD_PREFIX));
        if !on_decoder {
            default(info);
        }
    }));
}
