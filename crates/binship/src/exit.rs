//! Documented exit codes, and the mapping from pipeline error classes to them.

use binship_pipeline::ErrorClass;

pub const OK: i32 = 0;
pub const OTHER: i32 = 1;
pub const USAGE: i32 = 2;
pub const NOT_FOUND: i32 = 3;
pub const CONFLICT: i32 = 7;
/// A signature, digest or test status did not verify.
pub const VERIFY_FAILED: i32 = 8;
pub const INTERRUPTED: i32 = 130;

pub const HELP: &str = "Exit codes:\n  0  success\n  1  other error (I/O, store not writable)\n  2  usage or bad input (recipe, app name, version)\n  3  not found (recipe, app, version, source dir)\n  4  prerequisite missing (toolchain not on PATH or too old)\n  5  build failed (compiler error, binary not produced, dynamic binary)\n  6  tests failed (the version is not stored)\n  7  version exists with different inputs (use --force)\n  8  verification failed (signature, digest or test status)\n  130 interrupted (Ctrl-C; nothing stored)";

pub fn code(class: ErrorClass) -> i32 {
    class.exit_code()
}

/// The machine name of a class, for `--json` errors.
pub fn name(class: ErrorClass) -> &'static str {
    class.name()
}

/// The machine name of an exit code, for `--json` errors.
pub fn class_of(code: i32) -> &'static str {
    ErrorClass::from_exit_code(code)
        .unwrap_or(ErrorClass::Other)
        .name()
}
