//! Spinner progress on stderr ([`Spinner`]), drawn only when stderr is a terminal.

use std::time::Duration;

use binship_pipeline::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// A spinner showing the current step and the toolchain's latest output line.
pub struct Spinner {
    bar: Option<ProgressBar>,
    step: std::sync::Mutex<String>,
}

impl Spinner {
    /// A spinner if stderr is a terminal, else a silent reporter.
    pub fn new() -> Spinner {
        let bar = console::Term::stderr().is_term().then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(100));
            b
        });
        Spinner {
            bar,
            step: Default::default(),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for Spinner {
    fn step(&self, msg: &str) {
        *self.step.lock().unwrap() = msg.to_string();
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
        }
    }
    fn line(&self, line: &str) {
        if let Some(b) = &self.bar {
            let step = self.step.lock().unwrap().clone();
            let line: String = line.chars().take(60).collect();
            b.set_message(format!("{step}: {line}"));
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One bar per blob for registry pushes and pulls, on stderr when it is a terminal.
pub struct BlobBars {
    multi: Option<indicatif::MultiProgress>,
    bars: std::sync::Mutex<std::collections::HashMap<String, ProgressBar>>,
    verb: &'static str,
}

impl BlobBars {
    /// Bars if stderr is a terminal and `enabled` (not --json), else nothing.
    pub fn new(enabled: bool, verb: &'static str) -> BlobBars {
        BlobBars {
            multi: (enabled && console::Term::stderr().is_term())
                .then(indicatif::MultiProgress::new),
            bars: Default::default(),
            verb,
        }
    }

    fn with(&self, digest: &str, f: impl FnOnce(&ProgressBar)) {
        if let Some(b) = self.bars.lock().unwrap().get(digest) {
            f(b)
        }
    }
}

impl binship_registry::Progress for BlobBars {
    fn start(&self, digest: &str, size: u64) {
        let Some(m) = &self.multi else { return };
        let b = m.add(ProgressBar::new(size));
        b.set_style(
            ProgressStyle::with_template(
                "{prefix} {bar:30} {decimal_bytes:>9}/{decimal_total_bytes:<9} {decimal_bytes_per_sec:>11} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let short = digest.trim_start_matches("sha256:");
        b.set_prefix(short[..short.len().min(12)].to_string());
        b.set_message(self.verb);
        self.bars.lock().unwrap().insert(digest.to_string(), b);
    }
    fn advance(&self, digest: &str, bytes: u64) {
        self.with(digest, |b| b.inc(bytes));
    }
    fn restart(&self, digest: &str) {
        self.with(digest, |b| {
            b.set_position(0);
            b.set_message("retrying");
        });
    }
    fn done(&self, digest: &str, outcome: binship_registry::BlobOutcome) {
        self.with(digest, |b| {
            b.set_position(b.length().unwrap_or(0));
            b.finish_with_message(match outcome {
                binship_registry::BlobOutcome::Present => "already there",
                binship_registry::BlobOutcome::Mounted => "mounted",
                binship_registry::BlobOutcome::Uploaded => "done",
            });
        });
    }
}
