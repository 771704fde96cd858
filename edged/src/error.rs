//! `ApiError`: every failure of every listener (the CO's north and south
//! APIs, the LO's Margo API, the node's operations socket), rendered as an
//! RFC 9457 problem (`application/problem+json`) with a Margo type where one
//! applies. The extractors and helpers around it are in [`crate::http`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edge_model::ProblemDetail;
use edge_model::issue::Issue;
use edge_model::problem::{FieldError, MARGO_PROBLEM_BASE};

/// A failed request.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    problem: Box<ProblemDetail>,
}

impl ApiError {
    fn new(status: StatusCode, margo_type: Option<&str>, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        let ty = margo_type.map_or_else(
            || "about:blank".to_owned(),
            |t| format!("{MARGO_PROBLEM_BASE}{t}"),
        );
        let title = match margo_type {
            Some("invalid-request") => "Invalid Request",
            Some("semantic-error") => "Semantic Error",
            _ => title,
        };
        Self {
            status,
            problem: Box::new(ProblemDetail::new(&ty, title, status.as_u16()).with_detail(detail)),
        }
    }

    /// 400, malformed request.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalid-request"), detail)
    }

    /// 401, missing or wrong token.
    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "a valid bearer token is required: `admin.token` in the data directory, or one made by `edgectl co token create`",
        )
    }

    /// 403, the token is valid but its scope does not cover the request.
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, None, detail)
    }

    /// 403, the caller's identity may not do this (Margo `not-authorized`).
    pub(crate) fn not_authorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::FORBIDDEN, Some("not-authorized"), detail);
        e.problem.title = "Not Authorized".to_owned();
        e
    }

    /// 404.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    /// 405.
    pub(crate) fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, None, detail)
    }

    /// 409.
    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, None, detail)
    }

    /// 413.
    pub(crate) fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, None, detail)
    }

    /// 422 with every field problem.
    pub(crate) fn invalid(detail: impl Into<String>, issues: &[Issue], file: &str) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("semantic-error"),
            detail,
        );
        e.problem.errors = issues
            .iter()
            .map(|i| FieldError {
                field: if i.path.is_empty() {
                    file.to_owned()
                } else {
                    format!("{file}: {}", i.path)
                },
                message: i.message.clone(),
            })
            .collect();
        e
    }

    /// 422 with a list of (where, what) problems.
    pub(crate) fn problems(detail: impl Into<String>, list: Vec<(String, String)>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("semantic-error"),
            detail,
        );
        e.problem.errors = list
            .into_iter()
            .map(|(field, message)| FieldError { field, message })
            .collect();
        e
    }

    /// 422 without field list.
    pub(crate) fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("semantic-error"),
            detail,
        )
    }

    /// 404 with a Margo type (`deployment-not-found`, `invalid-bundle`, `device-not-found`).
    pub(crate) fn margo_not_found(margo_type: &str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::NOT_FOUND, Some(margo_type), detail);
        e.problem.title = match margo_type {
            "deployment-not-found" => "Deployment Not Found",
            "invalid-bundle" => "Invalid Bundle",
            "device-not-found" => "Device Not Found",
            _ => "Not Found",
        }
        .to_owned();
        e
    }

    /// 406, Margo `server-cannot-generate-response`.
    pub(crate) fn not_acceptable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::NOT_ACCEPTABLE,
            Some("server-cannot-generate-response"),
            detail,
        );
        e.problem.title = "Server Cannot Generate Response".to_owned();
        e
    }

    /// 503 with `Retry-After`: try again later (retryable, exponential back-off).
    pub(crate) fn unavailable(detail: impl Into<String>, retry_after: u32) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, None, detail);
        e.problem.retry_after_seconds = Some(retry_after.into());
        e
    }

    /// What the problem says, as one sentence (its detail, then each field
    /// error), for gathering the problems of many items into one answer.
    pub(crate) fn detail(&self) -> String {
        let mut text = self.problem.detail.clone().unwrap_or_default();
        for e in &self.problem.errors {
            text.push_str(&format!("; {}: {}", e.field, e.message));
        }
        text
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// 504: a peer that must answer did not in time (a remote operation's
    /// LO or edge node).
    pub(crate) fn gateway_timeout(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, None, detail)
    }

    /// 502: a remote source (Git, registry) failed.
    pub(crate) fn upstream(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, None, detail)
    }

    /// 500; the cause is logged, not sent.
    pub(crate) fn internal(err: &anyhow::Error) -> Self {
        if out_of_space(err) {
            // Something the operator can act on: say so, not "internal".
            tracing::error!(error = format!("{err:#}"), "out of disk space");
            return Self::unavailable(
                "the server's disk is full: free space in its data folder and retry",
                60,
            );
        }
        tracing::error!(error = format!("{err:#}"), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "internal error; the server log has the details",
        )
    }
}

/// Whether `err` (or one of its causes) is a full disk: `ENOSPC` or a quota
/// from the file system, `SQLITE_FULL` from SQLite.
pub(crate) fn out_of_space(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        }) || e
            .downcast_ref::<rusqlite::Error>()
            .is_some_and(|db| db.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    })
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(&e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(&anyhow::Error::new(e).context("database"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.problem.retry_after_seconds
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_a_503_that_says_so_and_other_failures_stay_internal() {
        let full = anyhow::Error::new(std::io::Error::from_raw_os_error(28)).context("writing");
        let e = ApiError::internal(&full);
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.detail().contains("disk is full"), "{}", e.detail());
        let db = anyhow::Error::new(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(13),
            None,
        ))
        .context("database");
        assert!(out_of_space(&db));
        let other = anyhow::Error::new(std::io::Error::from_raw_os_error(13));
        assert_eq!(
            ApiError::internal(&other).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
