//! Small formatting helpers shared by the subcommands: how paths, I/O errors and sizes read.

use std::io;
use std::time::Duration;

/// The operating system's description of an I/O error, without Rust's ` (os error N)` suffix:
/// `No such file or directory`, as the rest of the command line world prints it.
pub(crate) fn io_reason(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => {
            let suffix = format!(" (os error {code})");
            text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
        }
        None => text,
    }
}

/// `1536` → `1.5 KiB`: sizes for people, in binary units as the block size is.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss is irrelevant for a one-decimal display.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1.234 s` / `56 ms`: elapsed time for summaries.
pub(crate) fn human_duration(elapsed: Duration) -> String {
    if elapsed < Duration::from_secs(1) {
        format!("{} ms", elapsed.as_millis())
    } else {
        format!("{:.2} s", elapsed.as_secs_f64())
    }
}

/// `1 file` / `3 files`.
pub(crate) fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_reason_drops_the_os_error_suffix() {
        let err = io::Error::from_raw_os_error(2);
        assert!(err.to_string().contains("(os error 2)"));
        assert_eq!(io_reason(&err), "No such file or directory");
    }

    #[test]
    fn io_reason_keeps_custom_messages() {
        let err = io::Error::other("stream ended (os error 2)");
        assert_eq!(io_reason(&err), "stream ended (os error 2)");
    }

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(262_144), "256.0 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }

    #[test]
    fn human_duration_switches_to_seconds() {
        assert_eq!(human_duration(Duration::from_millis(56)), "56 ms");
        assert_eq!(human_duration(Duration::from_millis(1234)), "1.23 s");
    }

    #[test]
    fn plural_counts() {
        assert_eq!(plural(1, "file"), "1 file");
        assert_eq!(plural(0, "file"), "0 files");
        assert_eq!(plural(2, "file"), "2 files");
    }
}
