//! The configuration part of an application description: sections of settings
//! shown to people, and the schema entries their values must satisfy.
//!
//! [`SchemaEntry::check`] is the one place that decides whether a parameter
//! value is acceptable; the validator uses it for defaults and the CO uses it
//! for values given at deploy time.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::check::{
    Obj, keys, obj, one_of, opt, opt_bool, opt_list, opt_number, opt_str, req_list, req_str,
    req_text, unique,
};
use crate::issue::{Report, Rule, Unfit, field, index};

/// `configuration` of an application description.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// Groups of settings.
    pub sections: Vec<Section>,
    /// Rules that setting values follow.
    pub schema: Vec<SchemaEntry>,
}

/// A group of settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Section {
    /// Display name.
    pub name: String,
    /// The settings.
    pub settings: Vec<Setting>,
}

/// One setting: a parameter people may set, and its schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Setting {
    /// Name of the parameter it sets.
    pub parameter: String,
    /// Display name.
    pub name: String,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The value must not change after install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Name of the schema entry.
    pub schema: String,
}

/// One schema entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaEntry {
    /// Name settings refer to.
    pub name: String,
    /// The data type.
    pub data_type: DataType,
    /// Whether an empty value is acceptable (treated as "optional").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_empty: Option<bool>,
    /// Minimum string length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Maximum string length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Regular expression strings must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex_match: Option<String>,
    /// Minimum number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_value: Option<f64>,
    /// Maximum number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value: Option<f64>,
    /// Minimum decimal places.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_precision: Option<u64>,
    /// Maximum decimal places.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_precision: Option<u64>,
    /// Several options may be chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiselect: Option<bool>,
    /// The allowed values (a select).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Value>>,
}

/// Schema data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum DataType {
    #[serde(rename = "string")]
    String,
    #[serde(rename = "integer")]
    Integer,
    #[serde(rename = "double")]
    Double,
    #[serde(rename = "boolean")]
    Boolean,
    #[serde(rename = "array[string]")]
    StringArray,
    #[serde(rename = "array[integer]")]
    IntegerArray,
    #[serde(rename = "array[double]")]
    DoubleArray,
    #[serde(rename = "array[boolean]")]
    BooleanArray,
}

const DATA_TYPES: [&str; 8] = [
    "string",
    "integer",
    "double",
    "boolean",
    "array[string]",
    "array[integer]",
    "array[double]",
    "array[boolean]",
];

/// Bound on compiled `regexMatch` size, so a hostile pattern stays cheap.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("`regexMatch` is not a valid regular expression: {e}"))
}

impl SchemaEntry {
    fn scalar(self_type: DataType) -> DataType {
        match self_type {
            DataType::StringArray => DataType::String,
            DataType::IntegerArray => DataType::Integer,
            DataType::DoubleArray => DataType::Double,
            DataType::BooleanArray => DataType::Boolean,
            other => other,
        }
    }

    /// Whether a value must be given (`allowEmpty: false` or absent).
    #[must_use]
    pub fn required(&self) -> bool {
        !self.allow_empty.unwrap_or(false)
    }

    /// Check `value` against this entry; the error is a sentence for people.
    ///
    /// # Errors
    /// What the value lacks.
    pub fn check(&self, value: &Value) -> Result<(), Unfit> {
        self.why_not(value).map_err(Unfit)
    }

    fn why_not(&self, value: &Value) -> Result<(), String> {
        let empty = match value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if empty {
            return if self.required() {
                Err("a value is required".into())
            } else {
                Ok(())
            };
        }
        let is_array =
            self.data_type != Self::scalar(self.data_type) || self.multiselect.unwrap_or(false);
        match value {
            Value::Array(items) if is_array => items.iter().try_for_each(|v| self.check_scalar(v)),
            Value::Array(_) => Err("must be a single value, not a list".into()),
            _ if is_array && self.options.is_none() => Err("must be a list".into()),
            v => self.check_scalar(v),
        }
    }

    fn check_scalar(&self, v: &Value) -> Result<(), String> {
        if let Some(options) = &self.options
            && !options.contains(v)
        {
            let list = options
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!("must be one of {list}"));
        }
        match Self::scalar(self.data_type) {
            DataType::String => {
                let Value::String(s) = v else {
                    return Err("must be a string".into());
                };
                let len = s.chars().count() as u64;
                if let Some(min) = self.min_length.filter(|m| len < *m) {
                    return Err(format!("must be at least {min} characters long"));
                }
                if let Some(max) = self.max_length.filter(|m| len > *m) {
                    return Err(format!("must be at most {max} characters long"));
                }
                if let Some(re) = &self.regex_match
                    && !compile(re)?.is_match(s)
                {
                    return Err(format!("must match `{re}`"));
                }
                Ok(())
            }
            DataType::Boolean => v
                .is_boolean()
                .then_some(())
                .ok_or_else(|| "must be true or false".into()),
            DataType::Integer => {
                let Some(n) = v.as_f64().filter(|n| n.fract() == 0.0) else {
                    return Err("must be a whole number".into());
                };
                self.range(n)
            }
            _ => {
                let Some(n) = v.as_f64() else {
                    return Err("must be a number".into());
                };
                self.range(n)?;
                let places = decimal_places(v);
                if let Some(max) = self.max_precision.filter(|m| places > *m) {
                    return Err(format!("must have at most {max} decimal places"));
                }
                if let Some(min) = self.min_precision.filter(|m| places < *m) {
                    return Err(format!("must have at least {min} decimal places"));
                }
                Ok(())
            }
        }
    }

    fn range(&self, n: f64) -> Result<(), String> {
        if let Some(min) = self.min_value.filter(|m| n < *m) {
            return Err(format!("must be at least {min}"));
        }
        if let Some(max) = self.max_value.filter(|m| n > *m) {
            return Err(format!("must be at most {max}"));
        }
        Ok(())
    }
}

fn decimal_places(v: &Value) -> u64 {
    let text = v.to_string();
    match text.split_once('.') {
        Some((_, frac)) => frac.trim_end_matches('0').len() as u64,
        None => 0,
    }
}

/// Check `configuration`; returns the schema entries and settings found, for
/// checks against `parameters`.
pub(crate) fn check_configuration(r: &mut Report, m: &Obj, path: &str) {
    keys(r, m, path, &["sections", "schema"]);
    let schema_path = field(path, "schema");
    let mut names = Vec::new();
    for (i, e) in req_list(r, m, path, "schema")
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = index(&schema_path, i);
        let Some(e) = obj(r, e, &at) else { continue };
        check_entry(r, e, &at);
        if let Some(name) = req_str(r, e, &at, "name") {
            names.push((i, name));
        }
    }
    unique(
        r,
        names.iter().copied(),
        &schema_path,
        "name",
        "schema name",
    );
    let sections_path = field(path, "sections");
    for (i, s) in req_list(r, m, path, "sections")
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = index(&sections_path, i);
        let Some(s) = obj(r, s, &at) else { continue };
        keys(r, s, &at, &["name", "settings"]);
        req_text(r, s, &at, "name");
        let settings_path = field(&at, "settings");
        for (j, st) in req_list(r, s, &at, "settings")
            .into_iter()
            .flatten()
            .enumerate()
        {
            let sat = index(&settings_path, j);
            let Some(st) = obj(r, st, &sat) else { continue };
            keys(
                r,
                st,
                &sat,
                &["parameter", "name", "description", "immutable", "schema"],
            );
            req_text(r, st, &sat, "parameter");
            req_text(r, st, &sat, "name");
            opt_str(r, st, &sat, "description");
            opt_bool(r, st, &sat, "immutable");
            if let Some(schema) = req_str(r, st, &sat, "schema")
                && !names.iter().any(|(_, n)| *n == schema)
            {
                r.error(
                    field(&sat, "schema"),
                    Rule::Reference,
                    format!("no schema entry is named `{schema}`"),
                );
            }
        }
    }
}

fn check_entry(r: &mut Report, e: &Obj, at: &str) {
    keys(
        r,
        e,
        at,
        &[
            "name",
            "dataType",
            "allowEmpty",
            "minLength",
            "maxLength",
            "regexMatch",
            "minValue",
            "maxValue",
            "minPrecision",
            "maxPrecision",
            "multiselect",
            "options",
        ],
    );
    if let Some(t) = req_str(r, e, at, "dataType") {
        one_of(r, t, &field(at, "dataType"), &DATA_TYPES);
    }
    opt_bool(r, e, at, "allowEmpty");
    opt_bool(r, e, at, "multiselect");
    for key in ["minLength", "maxLength", "minPrecision", "maxPrecision"] {
        if let Some(v) = opt(e, key)
            && v.as_u64().is_none()
        {
            r.error(
                field(at, key),
                Rule::Type,
                format!("`{key}` must be a whole number of 0 or more"),
            );
        }
    }
    let min = opt_number(r, e, at, "minValue");
    let max = opt_number(r, e, at, "maxValue");
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        r.error(
            field(at, "minValue"),
            Rule::Range,
            "`minValue` is greater than `maxValue`",
        );
    }
    if let (Some(min), Some(max)) = (
        opt(e, "minLength").and_then(Value::as_u64),
        opt(e, "maxLength").and_then(Value::as_u64),
    ) && min > max
    {
        r.error(
            field(at, "minLength"),
            Rule::Range,
            "`minLength` is greater than `maxLength`",
        );
    }
    if let Some(re) = opt_str(r, e, at, "regexMatch")
        && let Err(msg) = compile(re)
    {
        r.error(field(at, "regexMatch"), Rule::Pattern, msg);
    }
    if let Some(options) = opt_list(r, e, at, "options")
        && options.is_empty()
    {
        r.error(
            field(at, "options"),
            Rule::Length,
            "`options` needs at least one entry",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(v: Value) -> SchemaEntry {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn strings() {
        let e = entry(
            json!({"name": "t", "dataType": "string", "maxLength": 5, "minLength": 2, "allowEmpty": false}),
        );
        assert!(e.check(&json!("abc")).is_ok());
        assert!(
            e.check(&json!("abcdef"))
                .unwrap_err()
                .0
                .contains("at most 5")
        );
        assert!(e.check(&json!("a")).unwrap_err().0.contains("at least 2"));
        assert!(e.check(&json!("")).unwrap_err().0.contains("required"));
        assert!(e.check(&json!(5)).is_err());
        let e = entry(json!({"name": "e", "dataType": "string", "regexMatch": ".*@[a-z0-9.-]*"}));
        assert!(e.check(&json!("a@b.c")).is_ok());
        assert!(e.check(&json!("nobody")).is_err());
    }

    #[test]
    fn numbers_and_precision() {
        let e = entry(json!({"name": "n", "dataType": "integer", "minValue": 30, "maxValue": 360}));
        assert!(e.check(&json!(30)).is_ok());
        assert!(e.check(&json!(29)).is_err());
        assert!(e.check(&json!(30.5)).is_err());
        let d =
            entry(json!({"name": "d", "dataType": "double", "minValue": 0.5, "maxPrecision": 1}));
        assert!(d.check(&json!(1)).is_ok());
        assert!(d.check(&json!(1.5)).is_ok());
        assert!(
            d.check(&json!(1.25))
                .unwrap_err()
                .0
                .contains("decimal places")
        );
        assert!(d.check(&json!(0.4)).is_err());
    }

    #[test]
    fn optional_selects_and_arrays() {
        let o =
            entry(json!({"name": "o", "dataType": "string", "allowEmpty": true, "minLength": 5}));
        assert!(o.check(&Value::Null).is_ok());
        let s = entry(json!({"name": "s", "dataType": "string", "options": ["a", "b"]}));
        assert!(s.check(&json!("a")).is_ok());
        assert!(s.check(&json!("c")).is_err());
        let m = entry(json!({"name": "m", "dataType": "array[integer]"}));
        assert!(m.check(&json!([1, 2])).is_ok());
        assert!(m.check(&json!([1, "x"])).is_err());
        assert!(m.check(&json!(1)).is_err());
        let b = entry(json!({"name": "b", "dataType": "boolean"}));
        assert!(b.check(&json!(true)).is_ok() && b.check(&json!("true")).is_err());
    }
}
