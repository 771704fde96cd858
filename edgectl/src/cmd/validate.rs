//! `edgectl validate PATH...`: check documents, packages and folders of
//! documents, and print every problem as `FILE: field.path: message`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edge_model::check_document;
use edge_model::issue::{Issue, Report, Rule};
use edge_workspace::package::DESCRIPTION_FILE;
use edge_workspace::{check_package, read_bounded};
use serde::Serialize;

use crate::EXIT_FAILURE;
use crate::cli::ValidateArgs;
use crate::printer::Printer;

/// Most documents checked under one folder argument.
const MAX_FILES_PER_FOLDER: usize = 10_000;

/// The verdict on one file, in the stable `-o json` form.
#[derive(Debug, Serialize)]
struct FileResult {
    /// The file, as given or found.
    file: String,
    /// The detected document kind.
    kind: Option<&'static str>,
    /// Whether the file is valid.
    valid: bool,
    /// Problems.
    errors: Vec<Issue>,
    /// Notes.
    notes: Vec<Issue>,
}

/// The whole run, in the stable `-o json` form.
#[derive(Debug, Serialize)]
struct Summary {
    valid: bool,
    files: Vec<FileResult>,
}

impl FileResult {
    fn new(file: &Path, kind: Option<&'static str>, report: Report) -> Self {
        Self {
            file: file.display().to_string(),
            kind,
            valid: report.is_valid(),
            errors: report.errors,
            notes: report.notes,
        }
    }

    fn failed(file: &Path, message: String) -> Self {
        let mut report = Report::default();
        report.error("", Rule::File, message);
        Self::new(file, None, report)
    }
}

/// Check every path named; a path that cannot be read at all is an error
/// (nothing is checked), not an invalid file.
pub(crate) fn validate(args: &ValidateArgs, printer: Printer) -> anyhow::Result<ExitCode> {
    let unreadable: Vec<String> = args
        .paths
        .iter()
        .filter_map(|p| {
            fs::metadata(p)
                .err()
                .map(|e| format!("cannot read `{}`: {e}", p.display()))
        })
        .collect();
    if !unreadable.is_empty() {
        anyhow::bail!("{}", unreadable.join("; "));
    }
    let mut results = Vec::new();
    for path in &args.paths {
        check_path(path, &mut results);
    }
    let valid = results.iter().all(|r| r.valid);
    if printer.is_human() {
        for r in &results {
            print_human(r, args.quiet, printer);
        }
        let bad = results.iter().filter(|r| !r.valid).count();
        let total = results.len();
        printer.line(&if bad == 0 {
            format!("{total} file(s) checked, all valid")
        } else {
            format!("{total} file(s) checked, {bad} invalid")
        });
    } else {
        printer.data(&Summary {
            valid,
            files: results,
        });
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

fn print_human(r: &FileResult, quiet: bool, printer: Printer) {
    for e in &r.errors {
        printer.line(&format!("{}: {e}", r.file));
    }
    if !quiet {
        for n in &r.notes {
            printer.line(&format!("{}: note: {n}", r.file));
        }
    }
    if r.valid {
        printer.line(&format!(
            "{}: valid {}",
            r.file,
            r.kind.unwrap_or("document")
        ));
    }
}

fn check_path(path: &Path, out: &mut Vec<FileResult>) {
    match fs::metadata(path) {
        Err(e) => out.push(FileResult::failed(path, format!("cannot read: {e}"))),
        Ok(m) if m.is_dir() => {
            if path.join(DESCRIPTION_FILE).is_file() {
                out.push(check_package_dir(path));
            } else {
                check_folder(path, out);
            }
        }
        Ok(_) => out.push(check_file(path)),
    }
}

fn check_package_dir(dir: &Path) -> FileResult {
    let file = dir.join(DESCRIPTION_FILE);
    match check_package(dir) {
        Ok(check) => {
            let kind = check.description.as_ref().map(|_| "application package");
            let kind = kind.or(Some("ApplicationDescription"));
            FileResult::new(&file, kind, check.report)
        }
        Err(e) => FileResult::failed(&file, e.sentence()),
    }
}

fn check_file(path: &Path) -> FileResult {
    let bytes = match read_bounded(path) {
        Ok(bytes) => bytes,
        Err(e) => return FileResult::failed(path, e.sentence()),
    };
    match check_document(&bytes) {
        Ok(outcome) => FileResult::new(
            path,
            outcome.kind.map(edge_model::DocumentKind::as_str),
            outcome.report,
        ),
        Err(e) => FileResult::failed(path, e.to_string()),
    }
}

/// Every YAML and JSON document under `dir`, packages checked as packages.
fn check_folder(dir: &Path, out: &mut Vec<FileResult>) {
    let mut files = Vec::new();
    let mut packages = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            out.push(FileResult::failed(&d, "cannot read this folder".into()));
            continue;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden || files.len() + packages.len() >= MAX_FILES_PER_FOLDER {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                if p.join(DESCRIPTION_FILE).is_file() {
                    packages.push(p);
                } else {
                    stack.push(p);
                }
            } else if meta.is_file() && is_document_name(&p) {
                files.push(p);
            }
        }
    }
    if files.is_empty() && packages.is_empty() {
        out.push(FileResult::failed(
            dir,
            "no Margo documents (*.yaml, *.yml, *.json) or packages found in this folder".into(),
        ));
        return;
    }
    let mut all: Vec<(PathBuf, bool)> = files
        .into_iter()
        .map(|f| (f, false))
        .chain(packages.into_iter().map(|p| (p, true)))
        .collect();
    all.sort();
    for (p, is_package) in all {
        out.push(if is_package {
            check_package_dir(&p)
        } else {
            check_file(&p)
        });
    }
}

fn is_document_name(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}
