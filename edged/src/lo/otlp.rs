//! The LO's part of workload telemetry: its nodes post what their
//! collectors buffered to `POST /x-edgectl/v1/otlp/{signal}` on the south
//! listener (not Margo; the caller is the device its certificate names, and
//! every `Resource` in the body must name that device in `edge.device.id`,
//! which the node set: a node cannot post as another). Taken requests wait
//! in a bounded queue in memory ([`QUEUE_BYTES`]) for the exporter, which
//! posts them to the operator's `--otlp-export` endpoint (`URL/v1/{signal}`,
//! binary protobuf), retrying with a growing pause; what the endpoint
//! refuses for good is dropped and counted. Without an exporter, or with
//! the queue full, the LO answers 503 with `Retry-After`, and the node keeps
//! its telemetry (its own buffer is bounded too).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::http::blocking;
use crate::otlp::{DEVICE, MAX_REQUEST, Signal, wire};
use crate::south::Caller;
use crate::south::backend::Shared;

/// Bytes of telemetry waiting for the exporter at most.
pub(crate) const QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// Requests the exporter's endpoint took.
static EXPORTED: AtomicU64 = AtomicU64::new(0);
/// Requests the exporter's endpoint refused for good (dropped).
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Requests refused to nodes (no exporter, queue full, not theirs).
static REFUSED: AtomicU64 = AtomicU64::new(0);
/// Bytes waiting now.
static QUEUED: AtomicU64 = AtomicU64::new(0);

/// Requests waiting, oldest first, and their bytes.
type Queue = (VecDeque<(Signal, Vec<u8>)>, usize);

/// The exporter: a bounded queue and the thread that empties it.
pub(crate) struct Exporter {
    url: String,
    queue: Mutex<Queue>,
    bell: crate::bell::Bell,
}

impl Exporter {
    /// An exporter to `url` (its thread started: it owns a blocking client).
    pub(crate) fn start(url: &str) -> anyhow::Result<Arc<Self>> {
        let e = Arc::new(Self {
            url: url.trim_end_matches('/').to_owned(),
            queue: Mutex::new((VecDeque::new(), 0)),
            bell: crate::bell::Bell::default(),
        });
        let run = e.clone();
        crate::bell::spawn("lo-otlp", move || run.run())?;
        tracing::info!(url, "workload telemetry exported over OTLP/HTTP");
        Ok(e)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queue `body`; `false` when the queue has no room.
    fn offer(&self, signal: Signal, body: Vec<u8>) -> bool {
        let mut q = self.lock();
        if q.1 + body.len() > QUEUE_BYTES {
            return false;
        }
        q.1 += body.len();
        QUEUED.store(q.1 as u64, Relaxed);
        q.0.push_back((signal, body));
        drop(q);
        self.bell.ring();
        true
    }

    fn run(&self) {
        let client = match reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot make the OTLP exporter's client; nothing is exported");
                return;
            }
        };
        let mut backoff =
            crate::backoff::Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            let next = self.lock().0.front().cloned();
            let Some((signal, body)) = next else {
                self.bell.wait(Duration::from_secs(5));
                continue;
            };
            let answer = client
                .post(format!("{}/v1/{}", self.url, signal.as_str()))
                .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                .body(body)
                .send()
                .map(|r| r.status().as_u16());
            match answer {
                Ok(200..=299) => {
                    EXPORTED.fetch_add(1, Relaxed);
                    let _ = backoff.succeeded();
                }
                Ok(code) if (400..500).contains(&code) && code != 429 && code != 408 => {
                    DROPPED.fetch_add(1, Relaxed);
                    tracing::warn!(
                        code,
                        "the OTLP endpoint refused a request for good; dropped"
                    );
                }
                other => {
                    let pause = backoff.failed();
                    tracing::debug!(
                        ?other,
                        ?pause,
                        "the OTLP endpoint did not take a request; kept"
                    );
                    std::thread::sleep(pause);
                    continue;
                }
            }
            let mut q = self.lock();
            if let Some((_, b)) = q.0.pop_front() {
                q.1 -= b.len();
            }
            QUEUED.store(q.1 as u64, Relaxed);
        }
    }
}

type Intake = (Shared, Option<Arc<Exporter>>);

/// The telemetry route for one connection's caller.
pub(crate) fn router(
    backend: Shared,
    exporter: Option<Arc<Exporter>>,
    caller: Caller,
) -> axum::Router {
    axum::Router::new()
        .route(crate::otlp::SOUTH_PATH, axum::routing::post(intake))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .layer(Extension(caller))
        .with_state((backend, exporter))
}

async fn intake(
    State((backend, exporter)): State<Intake>,
    Extension(caller): Extension<Caller>,
    UrlPath(signal): UrlPath<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(signal) = Signal::parse(&signal) else {
        return Err(ApiError::not_found(
            "no such signal; use traces, metrics or logs",
        ));
    };
    let device = {
        let (b, c) = (backend.clone(), caller.clone());
        blocking(move || b.device(&c)).await?
    };
    let refuse = |e: ApiError| {
        REFUSED.fetch_add(1, Relaxed);
        e
    };
    let body = body.map_err(|r| refuse(crate::http::body_rejection(&r, MAX_REQUEST)))?;
    let Some(exporter) = exporter else {
        return Err(refuse(ApiError::unavailable(
            "this LO exports no telemetry (start it with --otlp-export URL); keep it and try later",
            60,
        )));
    };
    match wire::check_device(&body, DEVICE, &device) {
        Ok(_) => {}
        Err(e @ wire::WireError::Malformed(_)) => {
            return Err(refuse(ApiError::bad_request(e.to_string())));
        }
        Err(e @ wire::WireError::Foreign { .. }) => {
            return Err(refuse(ApiError::forbidden(e.to_string())));
        }
    }
    if !exporter.offer(signal, body.to_vec()) {
        return Err(refuse(ApiError::unavailable(
            "the LO's export queue is full; keep it and try later",
            5,
        )));
    }
    Ok(StatusCode::OK.into_response())
}

/// The exporter's lines of the LO's `/metrics`.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn metrics(p: &mut crate::prom::Page) {
    p.gauge(
        "edged_lo_otlp_queue_bytes",
        "Bytes of workload telemetry waiting for the OTLP export endpoint.",
        &[(&[], QUEUED.load(Relaxed) as f64)],
    );
    for (name, help, v) in [
        (
            "edged_lo_otlp_exported_total",
            "Telemetry requests the OTLP export endpoint took.",
            &EXPORTED,
        ),
        (
            "edged_lo_otlp_dropped_total",
            "Telemetry requests the OTLP export endpoint refused for good (dropped).",
            &DROPPED,
        ),
        (
            "edged_lo_otlp_refused_total",
            "Telemetry requests refused to nodes (no exporter, queue full, malformed, not theirs); nodes keep what was refused for now.",
            &REFUSED,
        ),
    ] {
        p.counter(name, help, &[(&[], v.load(Relaxed))]);
    }
}
