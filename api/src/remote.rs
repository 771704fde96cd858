//! Remote operations on a workload (`edgectl co logs`, `edgectl co
//! restart`): what travels from the CO through a site's LO to an edge node
//! and back, with no connection ever made to the node. The CO queues an
//! [`OpRequest`]; the LO long-polls the CO for its site's (`GET
//! /lo/v1/ops`) and the node long-polls its LO for its own (`GET
//! /x-edgectl/v1/ops`); the node performs it and posts an [`OpResult`] to
//! its LO (`POST /x-edgectl/v1/ops/{id}`), which posts it on to the CO
//! (`POST /lo/v1/ops/{id}`), which answers the waiting north request.
//!
//! Every piece is bounded: a log answer holds at most [`MAX_LOG_TEXT`]
//! bytes of the log (the client asks again from `next`), a result body at
//! most [`MAX_RESULT`] bytes, a poll answer at most [`MAX_BATCH`] requests.

use serde::{Deserialize, Serialize};

use crate::node::{LogChunk, WorkloadRow};
use crate::routes;
use crate::south::{CallError, South};

/// Most bytes of a log in one answer.
pub const MAX_LOG_TEXT: usize = 64 * 1024;
/// Largest result body a server takes (the text, JSON-escaped, and more).
pub const MAX_RESULT: usize = 512 * 1024;
/// Most requests in one poll answer.
pub const MAX_BATCH: usize = 32;
/// Longest a poll for requests waits at its server, seconds.
pub const MAX_POLL_WAIT: u64 = 30;

/// What is asked of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OpKind {
    /// A piece of its log.
    Logs,
    /// Stop it and start it again.
    Restart,
}

/// One operation for one device, as the CO queued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpRequest {
    /// Unguessable id (128 random bits, hex).
    pub id: String,
    /// The device that runs the deployment.
    pub device: String,
    /// The deployment id.
    pub deployment: String,
    /// The component, when named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// What to do.
    pub kind: OpKind,
    /// Logs: go on from this offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Logs: only the last N lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<usize>,
    /// Logs: only lines written since then (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
}

/// Why an operation could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureCode {
    /// The device does not run the deployment (not placed there yet).
    NotPlaced,
    /// The deployment has no such component, or several and none was named.
    NoComponent,
    /// The workload keeps no log (yet).
    NoLog,
    /// The device is not connected to its LO.
    Offline,
    /// The LO does not serve that device or deployment.
    Refused,
    /// It was tried and failed.
    Failed,
}

/// A failure, with one sentence saying what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpFailure {
    /// Which kind of failure.
    pub code: FailureCode,
    /// What happened.
    pub message: String,
}

/// What became of an operation: exactly one of its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpResult {
    /// Logs: the piece read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogChunk>,
    /// Restart: the deployment's workloads afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workloads: Option<Vec<WorkloadRow>>,
    /// Why it was not done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<OpFailure>,
}

impl OpResult {
    /// A failure.
    #[must_use]
    pub fn failed(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            failure: Some(OpFailure {
                code,
                message: message.into(),
            }),
            ..Self::default()
        }
    }

    /// Whether it is well formed: one member, a log within its bound.
    #[must_use]
    pub fn well_formed(&self) -> bool {
        let members = usize::from(self.log.is_some())
            + usize::from(self.workloads.is_some())
            + usize::from(self.failure.is_some());
        members == 1
            && self.log.as_ref().is_none_or(|l| {
                // Bytes the node could not read as UTF-8 become U+FFFD: three each.
                l.text.len() <= 3 * MAX_LOG_TEXT
                    && l.next >= l.offset
                    && l.next - l.offset <= MAX_LOG_TEXT as u64
            })
            && self
                .failure
                .as_ref()
                .is_none_or(|f| f.message.len() <= 4096)
    }
}

impl South {
    /// Wait up to `wait_secs` for operations: at the CO, those of the LO's
    /// site ([`routes::LO_OPS`]); at an LO, the calling node's
    /// ([`routes::NODE_OPS`]).
    ///
    /// # Errors
    /// When the server cannot be reached, refuses, or answers something else.
    pub fn ops(&self, path: &str, wait_secs: u64) -> Result<Vec<OpRequest>, CallError> {
        let url = self.url(&format!("{path}?wait={wait_secs}"));
        let resp = self.send(&url, self.http.get(&url))?;
        let ops: Vec<OpRequest> = Self::json(&url, resp)?;
        if ops.len() > MAX_BATCH {
            return Err(CallError::Invalid {
                url,
                reason: format!("{} operations at once, more than {MAX_BATCH}", ops.len()),
            });
        }
        Ok(ops)
    }

    /// Post the result of operation `id` to `pattern` ([`routes::LO_OP`]
    /// or [`routes::NODE_OP`]).
    ///
    /// # Errors
    /// When the server cannot be reached or refuses.
    pub fn answer(&self, pattern: &str, id: &str, result: &OpResult) -> Result<(), CallError> {
        let url = self.url(&routes::fill(pattern, id));
        self.send(&url, self.http.post(&url).json(result)).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(offset: u64, next: u64, text: &str) -> OpResult {
        OpResult {
            log: Some(LogChunk {
                offset,
                next,
                end: next,
                text: text.to_owned(),
            }),
            ..OpResult::default()
        }
    }

    #[test]
    fn a_result_holds_one_bounded_member() {
        assert!(chunk(10, 20, "0123456789").well_formed());
        assert!(!chunk(0, MAX_LOG_TEXT as u64 + 1, "").well_formed());
        assert!(!chunk(20, 10, "").well_formed());
        assert!(!chunk(0, 1, &"x".repeat(3 * MAX_LOG_TEXT + 1)).well_formed());
        assert!(!OpResult::default().well_formed());
        let mut two = chunk(0, 0, "");
        two.workloads = Some(Vec::new());
        assert!(!two.well_formed());
        assert!(OpResult::failed(FailureCode::Offline, "away").well_formed());
    }
}
