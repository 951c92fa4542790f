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
