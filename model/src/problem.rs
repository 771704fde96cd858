//! `ProblemDetail` (RFC 9457 with Margo's members): the body of every error
//! response of the Margo API and of our north API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::check::{Obj, keys, obj, one_of, opt, opt_bool, opt_list, opt_str, req, req_text};
use crate::document::{DocumentKind, MargoDocument};
use crate::issue::{Report, Rule, index};

/// Base of the problem types Margo registers.
pub const MARGO_PROBLEM_BASE: &str = "https://docs.margo.org/specification/problem-types#";

/// An RFC 9457 problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDetail {
    /// Problem type URI; clients branch on it.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// URI of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Whether retrying may help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// Advisory retry delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// `none`, `fixed` or `exponential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_strategy: Option<String>,
    /// Field-level errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Other members.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One field-level error in a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct FieldError {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub message: String,
}

impl ProblemDetail {
    /// A problem with `about:blank` or a Margo type, retry members set per the
    /// rc.3 retry table.
    #[must_use]
    pub fn new(problem_type: &str, title: &str, status: u16) -> Self {
        let retryable = matches!(status, 429 | 500 | 503);
        Self {
            problem_type: problem_type.to_owned(),
            title: title.to_owned(),
            status,
            detail: None,
            instance: None,
            retryable: Some(retryable),
            retry_after_seconds: None,
            backoff_strategy: Some(if retryable { "exponential" } else { "none" }.to_owned()),
            errors: Vec::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Add a detail sentence.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl MargoDocument for ProblemDetail {
    const KIND: DocumentKind = DocumentKind::ProblemDetail;

    fn check(r: &mut Report, m: &Obj) {
        req_text(r, m, "", "type");
        req_text(r, m, "", "title");
        if let Some(s) = req(r, m, "", "status")
            && !s.as_u64().is_some_and(|n| (100..=599).contains(&n))
        {
            r.error(
                "status",
                Rule::Range,
                format!("must be an HTTP status code from 100 to 599, found {s}"),
            );
        }
        opt_str(r, m, "", "detail");
        opt_str(r, m, "", "instance");
        opt_bool(r, m, "", "retryable");
        if let Some(v) = opt(m, "retryAfterSeconds")
            && v.as_u64().is_none()
        {
            r.error(
                "retryAfterSeconds",
                Rule::Type,
                "must be a whole number of seconds",
            );
        }
        if let Some(b) = opt_str(r, m, "", "backoffStrategy") {
            one_of(r, b, "backoffStrategy", &["none", "fixed", "exponential"]);
        }
        for (i, e) in opt_list(r, m, "", "errors")
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = index("errors", i);
            let Some(e) = obj(r, e, &at) else { continue };
            keys(r, e, &at, &["field", "message"]);
            opt_str(r, e, &at, "field");
            opt_str(r, e, &at, "message");
        }
    }

    fn normalize(m: Map<String, Value>) -> Map<String, Value> {
        m
    }
}
