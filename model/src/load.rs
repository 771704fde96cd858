//! Bounded reading of untrusted document bytes into a JSON value tree.
//!
//! Everything that enters the model passes through [`parse_value`]: it refuses
//! empty, binary, oversized and too deeply nested input, YAML alias bombs and
//! multi-document streams with one clear sentence each, before any typed
//! processing. It never panics and never allocates much more than the input.

use serde_json::Value;

/// Largest document accepted, in bytes. Margo documents are a few KiB; a
/// megabyte is generous and keeps hostile input cheap to refuse.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Deepest nesting of mappings and lists accepted.
pub const MAX_DEPTH: usize = 64;

/// Largest number of values (scalars, lists, mappings) in one document.
pub const MAX_NODES: usize = 100_000;

/// Why bytes could not be read as a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Nothing but whitespace or comments.
    #[error("the document is empty")]
    Empty,
    /// Over [`MAX_DOCUMENT_BYTES`].
    #[error("the document is {size} bytes; documents are limited to {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// NUL bytes or invalid UTF-8.
    #[error("this is a binary file, not a YAML or JSON document")]
    Binary,
    /// Syntax error from the parser.
    #[error("not valid {format}: {message}")]
    Syntax {
        /// `YAML` or `JSON`.
        format: &'static str,
        /// The parser's message, with line and column.
        message: String,
    },
    /// Over [`MAX_DEPTH`] levels.
    #[error("the document nests deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// Over [`MAX_NODES`] values, usually from YAML aliases expanding.
    #[error("the document expands to more than {limit} values (a YAML alias bomb?)")]
    TooManyNodes {
        /// The limit.
        limit: usize,
    },
    /// The top level is not a mapping.
    #[error("the document must be a mapping (an object) at the top level, found {found}")]
    NotAMapping {
        /// What was found instead.
        found: &'static str,
    },
}

/// The text format a document was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON (first significant character `{` or `[`).
    Json,
    /// YAML, anything else.
    Yaml,
}

/// `v` as YAML text, as documents are written (`None` only for a value
/// YAML cannot hold, which JSON read by [`parse_value`] never is).
#[must_use]
pub fn value_to_yaml(v: &Value) -> Option<String> {
    yaml_serde::to_string(v).ok()
}

/// Read `bytes` as a YAML or JSON document whose top level is a mapping.
pub fn parse_value(bytes: &[u8]) -> Result<(Value, Format), LoadError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    if bytes.contains(&0) {
        return Err(LoadError::Binary);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LoadError::Binary)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if is_blank(text) {
        return Err(LoadError::Empty);
    }
    let trimmed = text.trim_start();
    let (value, format) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value = serde_json::from_str::<Value>(text).map_err(|e| json_error(&e))?;
        (value, Format::Json)
    } else {
        (parse_yaml(text)?, Format::Yaml)
    };
    check_shape(&value)?;
    match value {
        Value::Object(_) => Ok((value, format)),
        other => Err(LoadError::NotAMapping {
            found: kind_name(&other),
        }),
    }
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

fn json_error(e: &serde_json::Error) -> LoadError {
    if e.to_string().contains("recursion limit") {
        return LoadError::TooDeep { limit: MAX_DEPTH };
    }
    LoadError::Syntax {
        format: "JSON",
        message: e.to_string(),
    }
}

/// Whether flow collections (`[`, `{`) nest deeper than `limit`. The YAML
/// parser slows down sharply on very deep flow nesting, so this cheap scan runs
/// first. A bracket counts only where a node may start (a line's start in
/// block context, after `- `, `? `, `: `, `,` or another bracket) or inside a
/// flow collection; quoted scalars, block scalars, comments and the rest of a
/// plain scalar are skipped, so text that only holds brackets (a value such
/// as `"[[[["`) is not taken for nesting.
fn flow_too_deep(text: &str, limit: usize) -> bool {
    let b = text.as_bytes();
    let space_at = |i: usize| b.get(i).is_none_or(u8::is_ascii_whitespace);
    let mut depth = 0usize;
    // Whether a node may start here.
    let mut start = true;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'\n' => {
                start |= depth == 0;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' if i == 0 || space_at(i - 1) => {
                i = line_end(b, i);
                continue;
            }
            _ => {}
        }
        if start {
            match c {
                b'"' => {
                    i = quoted_end(b, i + 1, b'"');
                    start = false;
                    continue;
                }
                b'\'' => {
                    i = quoted_end(b, i + 1, b'\'');
                    start = false;
                    continue;
                }
                b'-' | b'?' if space_at(i + 1) => {
                    i += 1;
                    continue;
                }
                b'|' | b'>' if depth == 0 => {
                    i = block_scalar_end(b, i);
                    continue;
                }
                b'[' | b'{' => {}
                _ => start = false,
            }
        }
        match c {
            b'[' | b'{' if start || depth > 0 => {
                depth += 1;
                if depth > limit {
                    return true;
                }
                start = true;
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                start = false;
            }
            b',' if depth > 0 => start = true,
            b':' if space_at(i + 1) => start = true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Where the line holding `i` ends.
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| i + n)
}

/// Just past the quote that closes a scalar opened before `i` (`\"` escapes
/// in double quotes, `''` in single ones); the text's end if none does.
fn quoted_end(b: &[u8], mut i: usize, quote: u8) -> usize {
    while let Some(&c) = b.get(i) {
        if quote == b'"' && c == b'\\' {
            i += 2;
            continue;
        }
        if c == quote {
            if quote == b'\'' && b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// The start of the first line after the block scalar whose indicator is at
/// `i`: the lines after it that are blank or indented deeper than its own.
fn block_scalar_end(b: &[u8], i: usize) -> usize {
    let line_start = b[..i]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |n| n + 1);
    let indent = b[line_start..].iter().take_while(|&&c| c == b' ').count();
    let mut at = line_end(b, i);
    while at < b.len() {
        let next = at + 1;
        let end = line_end(b, next);
        let line = &b[next..end];
        let deeper = line.iter().take_while(|&&c| c == b' ').count() > indent;
        if !(deeper || line.iter().all(u8::is_ascii_whitespace)) {
            return next;
        }
        at = end;
    }
    b.len()
}

fn parse_yaml(text: &str) -> Result<Value, LoadError> {
    if flow_too_deep(text, MAX_DEPTH) {
        return Err(LoadError::TooDeep { limit: MAX_DEPTH });
    }
    let yaml: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| {
        let message = e.to_string();
        if message.contains("recursion limit") {
            LoadError::TooDeep { limit: MAX_DEPTH }
        } else if message.contains("repetition limit") {
            LoadError::TooManyNodes { limit: MAX_NODES }
        } else {
            LoadError::Syntax {
                format: "YAML",
                message,
            }
        }
    })?;
    let mut budget = MAX_NODES;
    yaml_to_json(yaml, 0, &mut budget)
}

/// Convert a YAML value to JSON, refusing what JSON cannot hold.
fn yaml_to_json(
    v: yaml_serde::Value,
    depth: usize,
    budget: &mut usize,
) -> Result<Value, LoadError> {
    use yaml_serde::Value as Y;
    if depth > MAX_DEPTH {
        return Err(LoadError::TooDeep { limit: MAX_DEPTH });
    }
    if *budget == 0 {
        return Err(LoadError::TooManyNodes { limit: MAX_NODES });
    }
    *budget -= 1;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                match serde_json::Number::from_f64(f) {
                    Some(n) => Value::Number(n),
                    None => {
                        return Err(LoadError::Syntax {
                            format: "YAML",
                            message: "`.nan` and `.inf` are not allowed in Margo documents".into(),
                        });
                    }
                }
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len().min(1024));
            for item in items {
                out.push(yaml_to_json(item, depth + 1, budget)?);
            }
            Value::Array(out)
        }
        Y::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(LoadError::Syntax {
                            format: "YAML",
                            message: format!(
                                "mapping keys must be strings, found {}",
                                yaml_kind(&other)
                            ),
                        });
                    }
                };
                let value = yaml_to_json(v, depth + 1, budget)?;
                out.insert(key, value);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            return Err(LoadError::Syntax {
                format: "YAML",
                message: format!("YAML tags such as `{}` are not allowed", tagged.tag),
            });
        }
    })
}

fn yaml_kind(v: &yaml_serde::Value) -> &'static str {
    use yaml_serde::Value as Y;
    match v {
        Y::Null => "null",
        Y::Bool(_) => "a boolean",
        Y::Number(_) => "a number",
        Y::String(_) => "a string",
        Y::Sequence(_) => "a list",
        Y::Mapping(_) => "a mapping",
        Y::Tagged(_) => "a tagged value",
    }
}

/// Depth and size check of an already parsed tree (JSON input).
fn check_shape(v: &Value) -> Result<(), LoadError> {
    fn walk(v: &Value, depth: usize, budget: &mut usize) -> Result<(), LoadError> {
        if depth > MAX_DEPTH {
            return Err(LoadError::TooDeep { limit: MAX_DEPTH });
        }
        if *budget == 0 {
            return Err(LoadError::TooManyNodes { limit: MAX_NODES });
        }
        *budget -= 1;
        match v {
            Value::Array(items) => items.iter().try_for_each(|i| walk(i, depth + 1, budget)),
            Value::Object(map) => map.values().try_for_each(|i| walk(i, depth + 1, budget)),
            _ => Ok(()),
        }
    }
    let mut budget = MAX_NODES;
    walk(v, 0, &mut budget)
}

/// A short name of a JSON value's type, for messages.
#[must_use]
pub fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_binary_and_large() {
        assert_eq!(parse_value(b"").unwrap_err(), LoadError::Empty);
        assert_eq!(
            parse_value(b"# only a comment\n---\n").unwrap_err(),
            LoadError::Empty
        );
        assert_eq!(parse_value(b"a: \x00").unwrap_err(), LoadError::Binary);
        assert_eq!(
            parse_value(&[0xff, 0xfe, 0x41]).unwrap_err(),
            LoadError::Binary
        );
        let big = vec![b'a'; MAX_DOCUMENT_BYTES + 1];
        assert!(matches!(
            parse_value(&big).unwrap_err(),
            LoadError::TooLarge { .. }
        ));
    }

    #[test]
    fn refuses_deep_nesting_in_both_formats() {
        let json = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            parse_value(json.as_bytes()).unwrap_err(),
            LoadError::TooDeep { .. }
        ));
        let yaml = format!("a: {}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            parse_value(yaml.as_bytes()).unwrap_err(),
            LoadError::TooDeep { .. }
        ));
        let obj = format!("{}1{}", "{\"a\":".repeat(70), "}".repeat(70));
        assert!(matches!(
            parse_value(obj.as_bytes()).unwrap_err(),
            LoadError::TooDeep { .. }
        ));
    }

    #[test]
    fn flow_depth_scan_skips_comments_and_counts_brackets() {
        assert!(!flow_too_deep("a: [1, [2]] # [[[[[[", 2));
        assert!(flow_too_deep("a: [[[1]]]", 2));
        assert!(!flow_too_deep("a: [[1]]\nb: [[2]]", 2));
        assert!(flow_too_deep("a: {b: [c, {d: 1}]}", 2));
        assert!(flow_too_deep("- [[[1]]]", 2));
        assert!(flow_too_deep("a:\n  [\n  [\n  [1]]]", 2));
        assert!(flow_too_deep("{\"a\":[[[1]]]}", 2));
    }

    #[test]
    fn brackets_inside_values_are_not_nesting() {
        let many = "[".repeat(200);
        for text in [
            format!("a: \"{many}\"\n"),
            format!("a: '{many}'\n"),
            format!("a: \"x\\\" {many}\"\n"),
            format!("a: 'it''s {many}'\n"),
            format!("a: pull failed {many}\n"),
            format!("a: |\n  {many}\n\n  {many}\nb: 1\n"),
            format!("l:\n- x: >\n    {many}\n- y\n"),
        ] {
            assert!(!flow_too_deep(&text, MAX_DEPTH), "{text}");
            assert!(parse_value(text.as_bytes()).is_ok(), "{text}");
        }
        // After a block scalar, nesting counts again.
        assert!(flow_too_deep("a: |\n  [[[\nb: [[[1]]]", 2));
    }

    #[test]
    fn a_string_of_brackets_written_as_yaml_reads_back() {
        // Found by the `deployment_status_manifest` fuzz target: a JSON
        // report whose error message holds 100 brackets was accepted, but
        // the same report written as YAML was refused as too deep.
        let json = format!("{{\"m\": \"x;? {}\"}}", "[".repeat(100));
        let (v, _) = parse_value(json.as_bytes()).unwrap();
        let yaml = yaml_serde::to_string(&v).unwrap();
        assert_eq!(parse_value(yaml.as_bytes()).unwrap().0, v, "{yaml}");
    }

    #[test]
    fn refuses_billion_laughs() {
        let mut doc = String::from(
            "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for i in 1..10 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
            ));
        }
        let err = parse_value(doc.as_bytes()).unwrap_err();
        assert!(matches!(err, LoadError::TooManyNodes { .. }), "{err:?}");
    }

    #[test]
    fn reads_yaml_and_json_mappings_only() {
        let (v, f) = parse_value(b"a: 1\nb: [x, true]\n").unwrap();
        assert_eq!(f, Format::Yaml);
        assert_eq!(v["b"][1], Value::Bool(true));
        let (v, f) = parse_value(b" {\"a\": 1}").unwrap();
        assert_eq!(f, Format::Json);
        assert_eq!(v["a"], 1);
        assert!(matches!(
            parse_value(b"- a\n- b\n").unwrap_err(),
            LoadError::NotAMapping { .. }
        ));
        assert!(matches!(
            parse_value(b"a: [").unwrap_err(),
            LoadError::Syntax { .. }
        ));
        assert!(matches!(
            parse_value(b"a: !custom x").unwrap_err(),
            LoadError::Syntax { .. }
        ));
        assert!(matches!(
            parse_value(b"a: 1\n---\nb: 2\n").unwrap_err(),
            LoadError::Syntax { .. }
        ));
    }
}
