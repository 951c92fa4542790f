//! Printing: results on stdout (text or `--json`), logs and errors on stderr.

pub use binship_store::display_path;

use binship_publish::push::PushAnswer;
use binship_registry::Pushed;

/// `line` with every ✓ green and ✗ red when the stream (stdout, or stderr with `stderr`) is a
/// colour terminal; `console` follows NO_COLOR, CLICOLOR and CLICOLOR_FORCE. See `say!`.
pub fn marks(line: &str, stderr: bool) -> String {
    let on = if stderr {
        console::colors_enabled_stderr()
    } else {
        console::colors_enabled()
    };
    if !on {
        return line.to_string();
    }
    let (ok, bad) = (console::style("✓").green(), console::style("✗").red());
    let (ok, bad) = (ok.force_styling(true), bad.force_styling(true));
    line.replace('✓', &ok.to_string())
        .replace('✗', &bad.to_string())
}

/// Prints a JSON document on stdout.
pub fn json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("json"));
}

/// Reports an error: one line on stderr, and a JSON document on stdout with `--json`.
pub fn error(json_mode: bool, class: &str, message: &str, extra: serde_json::Value) {
    eprintln!(
        "{}: {message}",
        console::style("error").red().bold().for_stderr()
    );
    if json_mode {
        let mut doc = serde_json::json!({ "status": "error", "error": class, "message": message });
        if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                d.insert(k.clone(), v.clone());
            }
        }
        json(&doc);
    }
}

/// Reports a failure (one line on stderr, the JSON answer with --json) and returns its exit code.
pub fn fail(json_mode: bool, code: i32, message: &str) -> i32 {
    error(
        json_mode,
        crate::exit::class_of(code),
        message,
        serde_json::json!({}),
    );
    code
}

/// Reports a failure of class `class` and returns its exit code.
pub fn fail_class(json_mode: bool, class: binship_pipeline::ErrorClass, message: &str) -> i32 {
    error(json_mode, class.name(), message, serde_json::json!({}));
    class.exit_code()
}

/// Prints warnings, one line each on stderr.
pub fn warnings(ws: &[String]) {
    for w in ws {
        eprintln!("{}: {w}", console::style("warning").yellow().for_stderr());
    }
}

/// Prints a push's result (`kind`: image or binary).
pub fn pushed(json_mode: bool, app: &str, version: u32, p: &Pushed, kind: &'static str) {
    if json_mode {
        json(&serde_json::json!(PushAnswer::new(kind, app, version, p)));
        return;
    }
    say!("✓ Pushed: {} ({})", p.reference, p.manifest_digest);
    println!(
        "  blobs: {} uploaded ({}), {} mounted, {} already there",
        p.uploaded.len(),
        binship_store::readme::human_size(p.bytes_uploaded),
        p.mounted.len(),
        p.skipped.len()
    );
}
