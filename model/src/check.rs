//! Small helpers for walking an untrusted JSON value tree and recording every
//! problem found, with its field path, into a [`Report`].
//!
//! Validators are written with these so that a document with ten problems gets
//! ten findings, not one. Nothing here panics on any input.

use regex::Regex;
use serde_json::{Map, Value};

use crate::id::EXTENSION_KEY;
use crate::issue::{Report, Rule, field, index};
use crate::load::kind_name;

pub(crate) type Obj = Map<String, Value>;

/// `v` as a mapping, or a type error.
pub(crate) fn obj<'a>(r: &mut Report, v: &'a Value, path: &str) -> Option<&'a Obj> {
    match v {
        Value::Object(m) => Some(m),
        other => {
            r.error(
                path,
                Rule::Type,
                format!("must be a mapping, found {}", kind_name(other)),
            );
            None
        }
    }
}

/// The value at `key`; a `required` error when it is missing or null.
pub(crate) fn req<'a>(r: &mut Report, m: &'a Obj, path: &str, key: &str) -> Option<&'a Value> {
    match m.get(key) {
        None | Some(Value::Null) => {
            r.error(
                field(path, key),
                Rule::Required,
                format!("`{key}` is required"),
            );
            None
        }
        Some(v) => Some(v),
    }
}

/// The value at `key` if present and not null.
pub(crate) fn opt<'a>(m: &'a Obj, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// `v` as a string, or a type error.
pub(crate) fn string<'a>(r: &mut Report, v: &'a Value, path: &str) -> Option<&'a str> {
    match v {
        Value::String(s) => Some(s),
        other => {
            r.error(
                path,
                Rule::Type,
                format!("must be a string, found {}", kind_name(other)),
            );
            None
        }
    }
}

/// A required string field.
pub(crate) fn req_str<'a>(r: &mut Report, m: &'a Obj, path: &str, key: &str) -> Option<&'a str> {
    let v = req(r, m, path, key)?;
    string(r, v, &field(path, key))
}

/// An optional string field.
pub(crate) fn opt_str<'a>(r: &mut Report, m: &'a Obj, path: &str, key: &str) -> Option<&'a str> {
    let v = opt(m, key)?;
    string(r, v, &field(path, key))
}

/// A required non-empty string field.
pub(crate) fn req_text<'a>(r: &mut Report, m: &'a Obj, path: &str, key: &str) -> Option<&'a str> {
    let s = req_str(r, m, path, key)?;
    if s.trim().is_empty() {
        r.error(
            field(path, key),
            Rule::Length,
            format!("`{key}` must not be empty"),
        );
    }
    Some(s)
}

/// `v` as a list, or a type error.
pub(crate) fn list<'a>(r: &mut Report, v: &'a Value, path: &str) -> Option<&'a Vec<Value>> {
    match v {
        Value::Array(items) => Some(items),
        other => {
            r.error(
                path,
                Rule::Type,
                format!("must be a list, found {}", kind_name(other)),
            );
            None
        }
    }
}

/// A required list with at least one item.
pub(crate) fn req_list<'a>(
    r: &mut Report,
    m: &'a Obj,
    path: &str,
    key: &str,
) -> Option<&'a Vec<Value>> {
    let v = req(r, m, path, key)?;
    let items = list(r, v, &field(path, key))?;
    if items.is_empty() {
        r.error(
            field(path, key),
            Rule::Length,
            format!("`{key}` needs at least one entry"),
        );
    }
    Some(items)
}

/// An optional list (may be empty).
pub(crate) fn opt_list<'a>(
    r: &mut Report,
    m: &'a Obj,
    path: &str,
    key: &str,
) -> Option<&'a Vec<Value>> {
    list(r, opt(m, key)?, &field(path, key))
}

/// A required mapping field.
pub(crate) fn req_obj<'a>(r: &mut Report, m: &'a Obj, path: &str, key: &str) -> Option<&'a Obj> {
    let v = req(r, m, path, key)?;
    obj(r, v, &field(path, key))
}

/// An optional mapping field.
pub(crate) fn opt_obj<'a>(r: &mut Report, m: &'a Obj, path: &str, key: &str) -> Option<&'a Obj> {
    obj(r, opt(m, key)?, &field(path, key))
}

/// An optional boolean; the strings `"true"`/`"false"` of older drafts are accepted.
pub(crate) fn opt_bool(r: &mut Report, m: &Obj, path: &str, key: &str) -> Option<bool> {
    match opt(m, key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        other => {
            r.error(
                field(path, key),
                Rule::Type,
                format!("must be true or false, found {}", kind_name(other)),
            );
            None
        }
    }
}

/// An optional number.
pub(crate) fn opt_number(r: &mut Report, m: &Obj, path: &str, key: &str) -> Option<f64> {
    match opt(m, key)? {
        Value::Number(n) => n.as_f64(),
        other => {
            r.error(
                field(path, key),
                Rule::Type,
                format!("must be a number, found {}", kind_name(other)),
            );
            None
        }
    }
}

/// A required number.
pub(crate) fn req_number(r: &mut Report, m: &Obj, path: &str, key: &str) -> Option<f64> {
    req(r, m, path, key)?;
    opt_number(r, m, path, key)
}

/// Record a pattern error unless `s` matches `re`.
pub(crate) fn pattern(r: &mut Report, s: &str, path: &str, re: &Regex, rule_text: &str) -> bool {
    if re.is_match(s) {
        return true;
    }
    r.error(
        path,
        Rule::Pattern,
        format!("`{}` is not valid: {rule_text}", shorten(s)),
    );
    false
}

/// Record a pattern error unless `valid` (for identifiers with rules beyond a regex).
pub(crate) fn valid_id(r: &mut Report, s: &str, path: &str, valid: bool, rule_text: &str) -> bool {
    if !valid {
        r.error(
            path,
            Rule::Pattern,
            format!("`{}` is not valid: {rule_text}", shorten(s)),
        );
    }
    valid
}

/// Check `kind` against the names accepted for a document (the first is the
/// one used in messages).
pub(crate) fn kind(r: &mut Report, m: &Obj, accepted: &[&str], required: bool) {
    let found = if required {
        req_str(r, m, "", "kind")
    } else {
        opt_str(r, m, "", "kind")
    };
    if let Some(k) = found
        && !accepted.contains(&k)
    {
        let want = accepted.first().copied().unwrap_or_default();
        r.error(
            "kind",
            Rule::Kind,
            format!("`{}` is not `{want}`", shorten(k)),
        );
    }
}

/// The optional `apiVersion`/`kind` header that rc.3 dropped from status and
/// capability reports: checks `kind` when present, notes the older form, and
/// tells whether the document carries it.
pub(crate) fn draft_header(r: &mut Report, m: &Obj, accepted: &[&str]) -> bool {
    let old = opt(m, "apiVersion").is_some() || opt(m, "kind").is_some();
    kind(r, m, accepted, false);
    if old {
        r.note(
            "apiVersion",
            Rule::Era,
            "`apiVersion` and `kind` are from drafts before rc.3, which drop them",
        );
        opt_str(r, m, "", "apiVersion");
    }
    old
}

/// `a`, `b`, `c` for messages.
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Record an enum error unless `s` is one of `allowed`.
pub(crate) fn one_of(r: &mut Report, s: &str, path: &str, allowed: &[&str]) -> bool {
    if allowed.contains(&s) {
        return true;
    }
    let list = quoted(allowed);
    r.error(
        path,
        Rule::Enum,
        format!("`{}` is not allowed here; use one of {list}", shorten(s)),
    );
    false
}

/// Check the keys of a mapping: unknown keys are errors, `x-…-extensions` keys
/// must be well formed and hold mappings.
pub(crate) fn keys(r: &mut Report, m: &Obj, path: &str, allowed: &[&str]) {
    for (key, value) in m {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        if key.starts_with("x-") {
            extension(r, key, value, path);
        } else {
            let list = quoted(allowed);
            r.error(
                field(path, key),
                Rule::UnknownField,
                format!("unknown field `{}`; expected one of {list}", shorten(key)),
            );
        }
    }
}

/// Check the keys of a mapping the rc.3 schema leaves open (no
/// `additionalProperties: false`): a member it does not name is ignored, with
/// a note, so a fleet manager that adds one is still understood; a
/// well-formed `x-…-extensions` key must still hold a mapping.
pub(crate) fn open_keys(r: &mut Report, m: &Obj, path: &str, known: &[&str]) {
    for (key, value) in m {
        if known.contains(&key.as_str()) {
            continue;
        }
        if EXTENSION_KEY.is_match(key) {
            extension(r, key, value, path);
        } else {
            r.note(
                field(path, key),
                Rule::UnknownField,
                format!("`{}` is not a Margo field here; ignored", shorten(key)),
            );
        }
    }
}

/// Check one specification extension entry.
pub(crate) fn extension(r: &mut Report, key: &str, value: &Value, path: &str) {
    let at = field(path, key);
    if !EXTENSION_KEY.is_match(key) {
        r.error(
            &at,
            Rule::ExtensionKey,
            format!(
                "extension key `{}` must look like `x-<name>-extensions` with <name> of lower-case letters, digits and dashes",
                shorten(key)
            ),
        );
    }
    if !value.is_object() {
        r.error(
            at,
            Rule::ExtensionKey,
            format!(
                "an extension value must be a mapping, found {}",
                kind_name(value)
            ),
        );
    }
}

/// Record `unique` errors for names that repeat, pointing at the later entry.
pub(crate) fn unique<'a>(
    r: &mut Report,
    names: impl IntoIterator<Item = (usize, &'a str)>,
    list_path: &str,
    key: &str,
    what: &str,
) {
    let mut seen = std::collections::HashMap::new();
    for (i, name) in names {
        if let Some(first) = seen.insert(name, i) {
            seen.insert(name, first);
            r.error(
                field(&index(list_path, i), key),
                Rule::Unique,
                format!(
                    "{what} `{}` is already used by entry {first}",
                    shorten(name)
                ),
            );
        }
    }
}

/// Cut long values in messages.
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_owned()
    } else {
        let head: String = s.chars().take(57).collect();
        format!("{head}...")
    }
}
