//! The node's OpenTelemetry collector (Margo: a workload-hosting device runs
//! one and injects its endpoint into every workload). An OTLP/HTTP receiver
//! (binary protobuf, `Content-Encoding: gzip` taken) on `--otlp-listen`,
//! loopback by default: `POST /w/<token>/v1/{traces,metrics,logs}`, where
//! `<token>` is the workload component's own, unguessable, derived from a
//! secret of the node (`DATA/otlp.key`), so the receiver knows who sent
//! what and refuses unknown tokens. Every `Resource` of a request gets the
//! node's attributes (device, site, deployment, component; a workload's
//! own values under those names are replaced), then the request waits in
//! the buffer (`buffer`, in `en.db`) for the forwarder (`forward`) to take
//! it to the fleet manager. Nothing is exported from the node itself: where
//! the data goes is the LO operator's choice (`--otlp-export`).
//!
//! Answers follow the OTLP/HTTP specification: 200 with an empty response
//! message; 400 undecodable; 403 unknown token; 404 unknown path; 413 too
//! large (also once decompressed); 415 JSON or an unknown encoding; 429 with
//! `Retry-After` while the buffer is busy; error bodies are a
//! `google.rpc.Status`.

mod bridge;
mod buffer;
mod forward;
pub(crate) mod host;

use std::collections::HashMap;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edge_model::ProfileType;

pub(crate) use buffer::Buffer;

use crate::otlp::{COMPONENT, DEPLOYMENT, DEVICE, MAX_REQUEST, SITE, Signal, wire};

/// Requests stored at once; more wait for none and get 429.
const WRITERS: usize = 4;
/// The name containers reach their host by (podman's).
const CONTAINER_HOST: &str = "host.containers.internal";

/// The running collector.
pub(crate) struct Collector {
    secret: Vec<u8>,
    /// Where the receiver listens.
    pub(crate) addr: SocketAddr,
    /// Where it listens for containers too (see `bridge`), when it does.
    containers: Option<SocketAddr>,
    device: String,
    site: String,
    /// Tokens given out: token → (deployment, component).
    known: Mutex<HashMap<String, (String, String)>>,
    /// What waits for the fleet manager.
    pub(crate) buffer: Arc<Buffer>,
    writers: Arc<tokio::sync::Semaphore>,
}

/// What `--otlp-listen` asks for: `off`, or an address (`auto`: loopback,
/// on the port the node had before, else any).
pub(crate) fn wanted(listen: &str) -> Option<&str> {
    (listen != "off").then_some(listen)
}

impl Collector {
    /// Bind the receiver on `listen` and serve it until a stop is asked
    /// for; the buffer in `DATA/en.db` holds at most `max_bytes`.
    pub(crate) async fn start(
        listen: &str,
        data: &Path,
        device: &str,
        site: &str,
        max_bytes: u64,
    ) -> anyhow::Result<Arc<Self>> {
        let kept = data.join("otlp.addr");
        let listener = if listen == "auto" {
            let before = std::fs::read_to_string(&kept)
                .ok()
                .and_then(|s| s.trim().parse::<SocketAddr>().ok());
            let again = match before {
                Some(a) => tokio::net::TcpListener::bind(a).await.ok(),
                None => None,
            };
            match again {
                Some(l) => l,
                None => tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .await
                    .context("cannot listen for OTLP on loopback")?,
            }
        } else {
            crate::http::listen(listen, Some("otlp")).await?.0
        };
        let addr = listener
            .local_addr()
            .context("cannot read the OTLP address")?;
        if listen == "auto" {
            let _ = std::fs::write(&kept, addr.to_string());
        }
        let (db, key) = (data.join("en.db"), data.join("otlp.key"));
        let (buffer, secret) = crate::http::start_blocking(move || {
            crate::perms::private_file(&db)?;
            Ok((Arc::new(Buffer::open(&db, max_bytes)?), secret(&key)?))
        })
        .await?;
        let door = if addr.ip().is_loopback() && edge_runtime::host::on_path("podman") {
            match bridge::gateway().await {
                Ok(ip) => match bridge::listen(ip, addr.port()) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        tracing::warn!("containers cannot reach the OTLP collector: {e:#}");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(
                        "containers cannot reach the OTLP collector on loopback, and podman's bridge gateway is unknown: {e:#}"
                    );
                    None
                }
            }
        } else {
            None
        };
        let containers = door.as_ref().and_then(|l| l.local_addr().ok());
        let collector = Arc::new(Self {
            secret,
            addr,
            containers,
            device: device.to_owned(),
            site: site.to_owned(),
            known: Mutex::new(HashMap::new()),
            buffer,
            writers: Arc::new(tokio::sync::Semaphore::new(WRITERS)),
        });
        let router = axum::Router::new()
            .route("/w/{token}/v1/{signal}", axum::routing::post(receive))
            .fallback(|| async { answer(StatusCode::NOT_FOUND, "no such OTLP path") })
            .layer(DefaultBodyLimit::max(MAX_REQUEST))
            .with_state(collector.clone());
        for l in std::iter::once(listener).chain(door) {
            let router = router.clone();
            tokio::spawn(crate::http::serve(
                l,
                None,
                crate::http::Limits::current(),
                crate::stop::requested(),
                move |_conn: crate::http::ConnInfo| Some(router.clone()),
            ));
        }
        tracing::info!(%addr, ?containers, "OTLP/HTTP collector listening");
        Ok(collector)
    }

    /// Forward what is buffered to `server` with `client` until the process
    /// ends (run on a thread of its own).
    pub(crate) fn forward(&self, client: &reqwest::blocking::Client, server: &str) {
        forward::run(&self.buffer, client, server);
    }

    /// The token of component `component` of `deployment`.
    fn token(&self, deployment: &str, component: &str) -> String {
        let mut input = self.secret.clone();
        for part in [deployment, component] {
            input.push(0);
            input.extend_from_slice(part.as_bytes());
        }
        let digest = edge_model::digest::sha256(&input).to_string();
        let hex = digest.trim_start_matches("sha256:");
        hex.get(..32).unwrap_or(hex).to_owned()
    }

    /// The variables a workload of `kind` gets: its endpoint (Margo's
    /// `HTTP_OTEL_EXPORTER_OTLP_ENDPOINT` and the SDKs' standard one), the
    /// protocol, and its resource attributes. A container dials the host
    /// by podman's name for it, on the port of the receiver's door for
    /// containers when there is one.
    pub(crate) fn env_for(
        &self,
        deployment: &str,
        component: &str,
        kind: ProfileType,
    ) -> Vec<(String, String)> {
        let token = self.token(deployment, component);
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token.clone(), (deployment.to_owned(), component.to_owned()));
        let host = match (kind, self.addr.ip()) {
            (ProfileType::Container | ProfileType::Compose, _) => CONTAINER_HOST.to_owned(),
            (_, ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
            (_, IpAddr::V6(ip)) => format!("[{ip}]"),
            (_, ip) => ip.to_string(),
        };
        let port = match (kind, self.containers) {
            (ProfileType::Container | ProfileType::Compose, Some(door)) => door.port(),
            _ => self.addr.port(),
        };
        let endpoint = format!("http://{host}:{port}/w/{token}");
        let attributes = self
            .attributes(deployment, component)
            .iter()
            .map(|(k, v)| format!("{k}={}", percent(v)))
            .collect::<Vec<_>>()
            .join(",");
        vec![
            (
                "HTTP_OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                endpoint.clone(),
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
                "http/protobuf".to_owned(),
            ),
            ("OTEL_RESOURCE_ATTRIBUTES".to_owned(), attributes),
        ]
    }

    /// The resource attributes of a component's telemetry.
    fn attributes(&self, deployment: &str, component: &str) -> Vec<(String, String)> {
        vec![
            (DEVICE.to_owned(), self.device.clone()),
            (SITE.to_owned(), self.site.clone()),
            (DEPLOYMENT.to_owned(), deployment.to_owned()),
            (COMPONENT.to_owned(), component.to_owned()),
        ]
    }
}

/// The node's secret for tokens: `path` (`0600`), made on first use.
fn secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Ok(bytes) = std::fs::read(path)
        && bytes.len() == 32
    {
        return Ok(bytes);
    }
    let mut bytes = vec![0_u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read random bytes")?;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(bytes)
}

/// `OTEL_RESOURCE_ATTRIBUTES` escaping of a value (`,`, `=`, `%` and
/// anything outside printable ASCII).
fn percent(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_graphic() && !matches!(b, b',' | b'=' | b'%') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An OTLP/HTTP answer: 200 with an empty response message, else a
/// `google.rpc.Status` naming the problem.
fn answer(status: StatusCode, message: &str) -> Response {
    let body = if status.is_success() {
        Vec::new()
    } else {
        // gRPC codes: INVALID_ARGUMENT, PERMISSION_DENIED, NOT_FOUND,
        // RESOURCE_EXHAUSTED, UNAVAILABLE.
        let code = match status.as_u16() {
            400 | 413 | 415 => 3,
            403 => 7,
            404 => 5,
            429 => 8,
            _ => 14,
        };
        wire::status(code, message)
    };
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Body::from(body),
    )
        .into_response();
    if matches!(status.as_u16(), 429 | 503)
        && let Ok(v) = header::HeaderValue::from_str("1")
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The request body decoded: as it came, or gunzipped to at most
/// [`MAX_REQUEST`] bytes; else the answer's status and why.
fn decoded(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, (StatusCode, String)> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(body)
                .take(MAX_REQUEST as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    (
                        StatusCode::BAD_REQUEST,
                        format!("the gzip body does not decompress: {e}"),
                    )
                })?;
            if out.len() > MAX_REQUEST {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request is over {MAX_REQUEST} bytes once decompressed"),
                ));
            }
            Ok(out)
        }
        Some(other) => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content encoding `{other}` is not supported; use gzip or none"),
        )),
    }
}

async fn receive(
    State(c): State<Arc<Collector>>,
    UrlPath((token, signal)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(signal) = Signal::parse(&signal) else {
        return answer(StatusCode::NOT_FOUND, "no such OTLP signal");
    };
    let who = c
        .known
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&token)
        .cloned();
    let Some((deployment, component)) = who else {
        return answer(
            StatusCode::FORBIDDEN,
            "unknown workload token: use the endpoint this node gave the workload",
        );
    };
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is over {MAX_REQUEST} bytes"),
            );
        }
        Err(r) => return answer(StatusCode::BAD_REQUEST, &r.body_text()),
    };
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !media
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-protobuf"))
    {
        return answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "only binary protobuf (application/x-protobuf) is taken; JSON is not",
        );
    }
    let body = match decoded(&headers, &body) {
        Ok(b) => b,
        Err((status, why)) => return answer(status, &why),
    };
    let stamped = match wire::stamp(&body, &c.attributes(&deployment, &component)) {
        Ok(s) => s,
        Err(e) => return answer(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if stamped.len() > MAX_REQUEST {
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request is over {MAX_REQUEST} bytes"),
        );
    }
    let Ok(permit) = c.writers.clone().try_acquire_owned() else {
        return answer(StatusCode::TOO_MANY_REQUESTS, "the buffer is busy; retry");
    };
    let buffer = c.buffer.clone();
    let kept = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        buffer.put(signal, &stamped)
    })
    .await;
    match kept {
        Ok(Ok(())) => answer(StatusCode::OK, ""),
        Ok(Err(e @ buffer::PutError::TooLarge(..))) => {
            answer(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string())
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "telemetry not kept");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "the buffer cannot be written now",
            )
        }
        Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "the buffer task failed"),
    }
}

/// The collector's lines of the node's `/metrics`.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn metrics(p: &mut crate::prom::Page, b: &Buffer) {
    use std::sync::atomic::Ordering::Relaxed;
    p.gauge(
        "edged_en_otlp_buffer_bytes",
        "Bytes of telemetry waiting in the node's buffer for the fleet manager.",
        &[(&[], b.bytes.load(Relaxed) as f64)],
    );
    for (name, help, v) in [
        (
            "edged_en_otlp_received_total",
            "OTLP export requests taken from workloads.",
            &b.received,
        ),
        (
            "edged_en_otlp_forwarded_total",
            "Buffered requests the fleet manager took.",
            &b.forwarded,
        ),
        (
            "edged_en_otlp_dropped_total",
            "Buffered requests dropped, oldest first, to make room in a full buffer.",
            &b.dropped,
        ),
        (
            "edged_en_otlp_refused_total",
            "Buffered requests the fleet manager refused for good (dropped).",
            &b.refused,
        ),
    ] {
        p.counter(name, help, &[(&[], v.load(Relaxed))]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_are_escaped() {
        assert_eq!(percent("edge-1"), "edge-1");
        assert_eq!(percent("a,b=c%d e"), "a%2Cb%3Dc%25d%20e");
    }
}
