//! Where sup writes: stdout for results, stderr for diagnostics, neither
//! ever a panic (a closed stdout, `sup -t | head`, ends the run quietly).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set when stdout is gone (`sup -t | head`): sup then stops probing,
/// as ping does, instead of panicking on the write.
pub static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether stdout is gone.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

pub fn write_out(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                stdout.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| stdout.flush());
    if result.is_err() {
        STDOUT_CLOSED.store(true, Ordering::SeqCst);
    }
}

pub fn write_err(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut stderr = std::io::stderr().lock();
    // Nowhere left to report a failure to write stderr.
    let _ = stderr.write_fmt(args).and_then(|()| {
        if newline {
            stderr.write_all(b"\n")
        } else {
            Ok(())
        }
    });
}

/// `println!` that never panics (see [`STDOUT_CLOSED`]).
macro_rules! out {
    ($($t:tt)*) => { $crate::out::write_out(format_args!($($t)*), true) };
}
/// `print!` that never panics.
macro_rules! out_raw {
    ($($t:tt)*) => { $crate::out::write_out(format_args!($($t)*), false) };
}
/// `eprintln!` that never panics.
macro_rules! err {
    ($($t:tt)*) => { $crate::out::write_err(format_args!($($t)*), true) };
}
/// `eprint!` that never panics.
macro_rules! err_raw {
    ($($t:tt)*) => { $crate::out::write_err(format_args!($($t)*), false) };
}
pub(crate) use {err, err_raw, out, out_raw};

/// Why sup could not run: one sentence a person can act on (exit code 2).
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

/// Writes one event: its JSON object with `json`, else its text line (either
/// may be none). Returns false once stdout is gone (the run should end).
pub fn emit(
    json: bool,
    object: impl FnOnce() -> Option<serde_json::Value>,
    line: impl FnOnce() -> Option<String>,
) -> bool {
    if json {
        if let Some(v) = object() {
            out!("{v}");
        }
    } else if let Some(line) = line() {
        out!("{line}");
    }
    !stdout_closed()
}
