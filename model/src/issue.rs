//! Validation findings: every problem in a document, each with the field path
//! it concerns, the rule it breaks and a sentence for people.
//!
//! Validators never stop at the first problem; they push into a [`Report`] and
//! the caller decides what to do with the whole list.

use std::fmt;

use serde::Serialize;

/// The rule a finding is about. Serialized in kebab-case for `-o json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A required field is missing.
    Required,
    /// A field has the wrong JSON/YAML type.
    Type,
    /// A string does not match its pattern.
    Pattern,
    /// A string or list is too short or too long.
    Length,
    /// A value is not one of the allowed values.
    Enum,
    /// A name or id appears twice where it must be unique.
    Unique,
    /// A reference names something that does not exist.
    Reference,
    /// A number is outside its allowed range.
    Range,
    /// A field is not known at this place.
    UnknownField,
    /// A value does not satisfy its configuration schema.
    SchemaValue,
    /// The document `kind` is not the expected one.
    Kind,
    /// A specification extension is malformed.
    ExtensionKey,
    /// A file of the package is missing or not allowed.
    File,
    /// An `edgectl` extension to Margo is used (a note, not an error).
    Extension,
    /// An older Margo draft form was accepted and converted (a note).
    Era,
}

impl Rule {
    /// The kebab-case name, as in the JSON output.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Type => "type",
            Self::Pattern => "pattern",
            Self::Length => "length",
            Self::Enum => "enum",
            Self::Unique => "unique",
            Self::Reference => "reference",
            Self::Range => "range",
            Self::UnknownField => "unknown-field",
            Self::SchemaValue => "schema-value",
            Self::Kind => "kind",
            Self::ExtensionKey => "extension-key",
            Self::File => "file",
            Self::Extension => "extension",
            Self::Era => "era",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: where, which rule, and what to tell a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Dotted field path such as `deploymentProfiles[0].components[1].name`;
    /// empty for the document as a whole.
    pub path: String,
    /// The rule concerned.
    pub rule: Rule,
    /// A sentence for people.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// All findings of one validation run: errors make a document invalid, notes
/// only inform (extensions used, older drafts converted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Problems that make the document invalid.
    pub errors: Vec<Issue>,
    /// Information that does not make the document invalid.
    pub notes: Vec<Issue>,
}

impl Report {
    /// True when there are no errors.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Record an error.
    pub fn error(&mut self, path: impl Into<String>, rule: Rule, message: impl Into<String>) {
        self.errors.push(Issue {
            path: path.into(),
            rule,
            message: message.into(),
        });
    }

    /// Record a note.
    pub fn note(&mut self, path: impl Into<String>, rule: Rule, message: impl Into<String>) {
        self.notes.push(Issue {
            path: path.into(),
            rule,
            message: message.into(),
        });
    }

    /// Move all findings of `other` into this report.
    pub fn merge(&mut self, other: Report) {
        self.errors.extend(other.errors);
        self.notes.extend(other.notes);
    }
}

/// `parent.key`, or `key` at the top.
#[must_use]
pub fn field(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
#[must_use]
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// Why one value (or one device) does not fit what is asked of it: a
/// sentence for people, with no cause beneath it. What the validators of a
/// single value return ([`crate::schema::SchemaEntry::check`],
/// [`crate::render::coerce`], [`crate::placement::fits`]); callers put it in
/// a [`Report`] or in their own sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unfit(pub String);
