//! Is a package-local `wasm` component artifact a WebAssembly module the
//! node's runtime can load? The node runs core modules (WASI preview 1),
//! given as the binary format or as text (`.wat`), as wasmtime reads them;
//! so a file is checked the same way: text is turned into the binary form
//! first, then the whole module is validated by `wasmparser` (the version
//! wasmtime uses). A component (the component model's binary form) is not a
//! module. A file over the artifact size limit is refused before it is
//! read, and reading stops at that limit.

use std::fs;
use std::io::Read as _;
use std::path::Path;

use edge_model::artifact::MAX_ARTIFACT;

/// Check the module at `path` (shown to people as `rel`); the problem as
/// one sentence naming `rel`.
pub(super) fn check_module(path: &Path, rel: &str) -> Result<(), String> {
    let file = fs::File::open(path).map_err(|e| format!("cannot read `{rel}`: {e}"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read `{rel}`: {e}"))?
        .len();
    if size > MAX_ARTIFACT {
        return Err(format!(
            "`{rel}` is larger than {MAX_ARTIFACT} bytes, more than an artifact may be"
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_ARTIFACT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{rel}`: {e}"))?;
    if bytes.len() as u64 > MAX_ARTIFACT {
        return Err(format!(
            "`{rel}` is larger than {MAX_ARTIFACT} bytes, more than an artifact may be"
        ));
    }
    check_bytes(&bytes, rel)
}

/// The check of [`check_module`] on bytes already read.
pub(super) fn check_bytes(bytes: &[u8], rel: &str) -> Result<(), String> {
    let binary = if bytes.starts_with(b"\0asm") {
        std::borrow::Cow::Borrowed(bytes)
    } else {
        if std::str::from_utf8(bytes).is_err() {
            return Err(format!(
                "`{rel}` is not a WebAssembly module: it neither starts with the binary header (`\\0asm`) nor is text"
            ));
        }
        wat::parse_bytes(bytes).map_err(|e| {
            format!(
                "`{rel}` is not a well-formed WebAssembly text module: {}",
                one_line(&e.to_string())
            )
        })?
    };
    if wasmparser::Parser::is_component(&binary) {
        return Err(format!(
            "`{rel}` is a WebAssembly component; the `wasm` runtime runs core modules (WASI preview 1)"
        ));
    }
    wasmparser::Validator::new()
        .validate_all(&binary)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "`{rel}` is not a well-formed WebAssembly module: {} (at byte {})",
                one_line(e.message()),
                e.offset()
            )
        })
}

/// A possibly multi-line parser message on one line: its first line, and
/// where it points (`--> <anon>:3:5` becomes `at line 3, column 5`).
fn one_line(message: &str) -> String {
    let mut lines = message.lines();
    let first = lines.next().unwrap_or_default().trim().to_owned();
    let at = lines
        .filter_map(|l| l.trim().strip_prefix("--> "))
        .find_map(|place| {
            let mut parts = place.rsplitn(3, ':');
            let col = parts.next()?.parse::<u32>().ok()?;
            let line = parts.next()?.parse::<u32>().ok()?;
            Some(format!(" at line {line}, column {col}"))
        })
        .unwrap_or_default();
    format!("{first}{at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_module_passes_as_binary_and_as_text() {
        let text = r#"(module (func (export "_start")))"#;
        assert_eq!(check_bytes(text.as_bytes(), "m.wat"), Ok(()));
        let binary = wat::parse_str(text).unwrap();
        assert_eq!(check_bytes(&binary, "m.wasm"), Ok(()));
    }

    #[test]
    fn each_kind_of_bad_module_is_named_with_its_file() {
        let e = check_bytes(b"\0asm\x01\0\0\0\x01\xff", "c/m.wasm").unwrap_err();
        assert!(
            e.starts_with("`c/m.wasm` is not a well-formed WebAssembly module: "),
            "{e}"
        );
        assert!(e.contains("(at byte "), "{e}");

        let e = check_bytes(b"(module (func $f (call $nowhere)))", "m.wat").unwrap_err();
        assert!(
            e.starts_with("`m.wat` is not a well-formed WebAssembly text module: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(e.contains("at line 1, column"), "{e}");

        let e = check_bytes(&[0xff, 0xfe, 0x00, 0x01], "m.wasm").unwrap_err();
        assert!(e.contains("neither starts with the binary header"), "{e}");

        // Well-formed text whose function body does not type check.
        let e = check_bytes(b"(module (func (result i32)))", "m.wat").unwrap_err();
        assert!(
            e.starts_with("`m.wat` is not a well-formed WebAssembly module: type mismatch"),
            "{e}"
        );

        let component = b"\0asm\x0d\0\x01\0";
        let e = check_bytes(component, "m.wasm").unwrap_err();
        assert!(e.contains("is a WebAssembly component"), "{e}");
    }

    #[test]
    fn a_file_over_the_artifact_limit_is_not_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.wasm");
        let f = fs::File::create(&path).unwrap();
        f.set_len(MAX_ARTIFACT + 1).unwrap();
        let e = check_module(&path, "big.wasm").unwrap_err();
        assert!(e.contains("is larger than"), "{e}");
    }
}
