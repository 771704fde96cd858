//! The one place that writes to stdout (results) and stderr (errors).
//!
//! Commands hand the printer lines for people or a serializable value for
//! scripts; the printer picks what the chosen output format wants. A closed
//! pipe (`edgectl … | head`) is not an error.

use std::io::Write as _;

use serde::Serialize;

use crate::cli::OutputFormat;

/// Writes command output in the chosen format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    format: OutputFormat,
}

impl Printer {
    pub(crate) fn new(format: OutputFormat) -> Self {
        Self { format }
    }

    /// Whether the output is for people.
    pub(crate) fn is_human(self) -> bool {
        matches!(self.format, OutputFormat::Table | OutputFormat::Wide)
    }

    /// Whether people asked for every column (`-o wide`).
    pub(crate) fn is_wide(self) -> bool {
        self.format == OutputFormat::Wide
    }

    /// One line for people (ignored for machine formats).
    pub(crate) fn line(self, text: &str) {
        if self.is_human() {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }

    /// Raw text, whatever the format (completion scripts).
    pub(crate) fn raw(self, text: &[u8]) {
        let _ = std::io::stdout().lock().write_all(text);
    }

    /// A value for scripts (ignored for the table format).
    pub(crate) fn data<T: Serialize>(self, value: &T) {
        let text = match self.format {
            OutputFormat::Table | OutputFormat::Wide => return,
            OutputFormat::Json => serde_json::to_string_pretty(value)
                .map(|s| s + "\n")
                .map_err(|e| e.to_string()),
            OutputFormat::Yaml => yaml_serde::to_string(value).map_err(|e| e.to_string()),
        };
        match text {
            Ok(text) => self.raw(text.as_bytes()),
            Err(e) => self.error(&format!("cannot serialize the output: {e}")),
        }
    }

    /// One value per line for scripts that read a stream (JSON lines, or one
    /// YAML document each); ignored for the table format.
    pub(crate) fn record<T: Serialize>(self, value: &T) {
        let text = match self.format {
            OutputFormat::Table | OutputFormat::Wide => return,
            OutputFormat::Json => serde_json::to_string(value)
                .map(|s| s + "\n")
                .map_err(|e| e.to_string()),
            OutputFormat::Yaml => yaml_serde::to_string(value)
                .map(|s| format!("---\n{s}"))
                .map_err(|e| e.to_string()),
        };
        match text {
            Ok(text) => {
                self.raw(text.as_bytes());
                let _ = std::io::stdout().lock().flush();
            }
            Err(e) => self.error(&format!("cannot serialize the output: {e}")),
        }
    }

    /// A table for people: a header row and aligned columns.
    pub(crate) fn table(self, headers: &[&str], rows: &[Vec<String>]) {
        if !self.is_human() {
            return;
        }
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let render = |cells: Vec<&str>| {
            let mut line = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                if i + 1 == cells.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  "));
                }
            }
            line.trim_end().to_owned()
        };
        let mut out = String::new();
        out.push_str(&render(headers.to_vec()));
        out.push('\n');
        for row in rows {
            out.push_str(&render(row.iter().map(String::as_str).collect()));
            out.push('\n');
        }
        self.raw(out.as_bytes());
    }

    /// A progress note for people, on stderr, only when stderr is a terminal.
    pub(crate) fn warn_progress(self, text: &str) {
        use std::io::IsTerminal as _;
        if std::io::stderr().is_terminal() {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// A warning for people, on stderr.
    pub(crate) fn warn(self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {text}");
    }

    /// An error for people, on stderr.
    pub(crate) fn error(self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "error: {text}");
    }
}

/// `n` and its noun, singular for one: `1 report`, `2 reports`.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_takes_the_singular_and_every_other_count_the_plural() {
        assert_eq!(super::count(1, "report", "reports"), "1 report");
        assert_eq!(super::count(0, "report", "reports"), "0 reports");
        assert_eq!(
            super::count(12, "new Git object", "new Git objects"),
            "12 new Git objects"
        );
    }
}
