//! The node's forwarder: the oldest buffered telemetry, joined into one
//! request per signal (at most [`BATCH`] bytes), posted to the fleet
//! manager's `POST /x-edgectl/v1/otlp/{signal}` over the node's mTLS client.
//! Taken (2xx): forgotten. Refused for good (400, 403, 413: malformed, not
//! this device's, too large): forgotten and counted. Anything else (no
//! exporter at the LO, 429, 503, a fleet manager without the path, no
//! link): kept, and tried again after a growing pause.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::buffer::Buffer;

/// Largest joined request sent at once.
pub(crate) const BATCH: usize = 1024 * 1024;

/// Forward until the process ends.
pub(crate) fn run(buffer: &Arc<Buffer>, client: &reqwest::blocking::Client, server: &str) {
    let mut backoff = crate::backoff::Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        let batch = match buffer.batch(BATCH) {
            Ok(Some(b)) => b,
            Ok(None) => {
                buffer.bell.wait(Duration::from_secs(5));
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the telemetry buffer");
                std::thread::sleep(backoff.grow());
                continue;
            }
        };
        let url = format!(
            "{server}{}",
            crate::otlp::SOUTH_PATH.replace("{signal}", batch.signal.as_str())
        );
        let n = batch.ids.len() as u64;
        let answer = client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(batch.body)
            .send()
            .map(|r| r.status().as_u16());
        let forget = match answer {
            Ok(200..=299) => {
                buffer.forwarded.fetch_add(n, Ordering::Relaxed);
                backoff.succeeded();
                true
            }
            Ok(code @ (400 | 403 | 413)) => {
                buffer.refused.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(
                    code,
                    requests = n,
                    "the fleet manager refused telemetry for good; dropped"
                );
                true
            }
            Ok(code) => {
                let pause = backoff.failed();
                tracing::debug!(
                    code,
                    ?pause,
                    "the fleet manager does not take telemetry now; kept"
                );
                std::thread::sleep(pause);
                false
            }
            Err(e) => {
                let pause = backoff.failed();
                tracing::debug!(error = %e, ?pause, "telemetry not forwarded; kept");
                std::thread::sleep(pause);
                false
            }
        };
        if forget && let Err(e) = buffer.remove(&batch.ids) {
            tracing::error!(error = %e, "cannot forget forwarded telemetry");
            std::thread::sleep(backoff.grow());
        }
    }
}
