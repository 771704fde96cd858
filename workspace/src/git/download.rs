//! The HTTP transport of one app-source fetch: `gix`'s reqwest client with
//! the [`SourcePolicy`]'s resolver (only permitted addresses), a connect
//! timeout, no redirects (a redirect could lead to an address literal the
//! resolver never sees), and every response body counted against
//! [`SourcePolicy::max_download`] as it streams: the read that would pass the
//! bound fails, so the pack file in the scratch repository never grows past
//! it.

use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gix::bstr::ByteSlice as _;
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::blocking_io::http::{
    self as gix_http, GetResponse, Http, PostBodyDataKind, PostResponse,
};

use super::source::{Resolver, SourcePolicy};

/// What a fetch has left to download, shared by all its responses.
#[derive(Debug, Clone)]
pub(super) struct Budget {
    left: Arc<AtomicU64>,
    hit: Arc<AtomicBool>,
}

impl Budget {
    pub(super) fn new(bytes: u64) -> Self {
        Self {
            left: Arc::new(AtomicU64::new(bytes)),
            hit: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a response was cut off at the bound.
    pub(super) fn exhausted(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }
}

/// A response body that stops at the budget.
pub(super) struct Capped<B> {
    inner: B,
    budget: Budget,
}

impl<B: BufRead> BufRead for Capped<B> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let left = self.budget.left.load(Ordering::SeqCst);
        let buf = self.inner.fill_buf()?;
        if buf.is_empty() {
            return Ok(buf);
        }
        if left == 0 {
            self.budget.hit.store(true, Ordering::SeqCst);
            return Err(io::Error::other(
                "the app source sent more than the download bound",
            ));
        }
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        Ok(&buf[..n])
    }

    fn consume(&mut self, amt: usize) {
        let _ = self
            .budget
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                Some(l.saturating_sub(amt as u64))
            });
        self.inner.consume(amt);
    }
}

impl<B: BufRead> Read for Capped<B> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// `gix`'s reqwest backend with every response body [`Capped`].
pub(super) struct CappedHttp {
    inner: gix_http::reqwest::Remote,
    budget: Budget,
}

impl Http for CappedHttp {
    type Headers = <gix_http::reqwest::Remote as Http>::Headers;
    type ResponseBody = Capped<<gix_http::reqwest::Remote as Http>::ResponseBody>;
    type PostBody = <gix_http::reqwest::Remote as Http>::PostBody;

    fn get(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix::Result<GetResponse<Self::Headers, Self::ResponseBody>> {
        let r = self.inner.get(url, base_url, headers)?;
        Ok(GetResponse {
            headers: r.headers,
            body: Capped {
                inner: r.body,
                budget: self.budget.clone(),
            },
        })
    }

    fn post(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        body: PostBodyDataKind,
    ) -> gix::Result<PostResponse<Self::Headers, Self::ResponseBody, Self::PostBody>> {
        let r = self.inner.post(url, base_url, headers, body)?;
        Ok(PostResponse {
            post_body: r.post_body,
            headers: r.headers,
            body: Capped {
                inner: r.body,
                budget: self.budget.clone(),
            },
        })
    }

    fn configure(&mut self, config: &dyn std::any::Any) -> gix::Result {
        self.inner.configure(config)
    }

    fn redirected_base_url(&self) -> Option<String> {
        self.inner.redirected_base_url()
    }
}

/// Put the capped transport in the connection and configure its client:
/// the policy's resolver, `connect_timeout`, no redirects.
pub(super) fn configure(
    connection: &mut gix::remote::Connection<'_, '_, '_, Box<dyn Transport + Send>>,
    policy: &Arc<SourcePolicy>,
    budget: &Budget,
    connect_timeout: std::time::Duration,
) -> gix::Result {
    let resolver = Arc::new(Resolver(policy.clone()));
    let configure_client: Box<gix_http::reqwest::ConfigureClientFn> =
        Box::new(move |builder: reqwest::blocking::ClientBuilder| {
            Ok(builder
                .connect_timeout(connect_timeout)
                .dns_resolver(resolver.clone()))
        });
    let backend = gix_http::reqwest::Options {
        configure_client: Some(configure_client),
        configure_request: None,
    };
    let mut options = gix_http::Options::default();
    if let Some(url) = connection.remote().url(gix::remote::Direction::Fetch) {
        let url_text = url.to_bstring();
        if let Some(configured) = connection
            .remote()
            .repo()
            .transport_options(url_text.as_bstr(), None)?
            .and_then(|any| any.downcast::<gix_http::Options>().ok())
        {
            options = *configured;
        }
        let url = url.clone();
        let http = CappedHttp {
            inner: gix_http::reqwest::Remote::default(),
            budget: budget.clone(),
        };
        *connection.transport_mut() = Box::new(gix_http::Transport::new_http(
            http,
            url,
            gix::protocol::transport::Protocol::V2,
            false,
        ));
    }
    options.follow_redirects = gix_http::options::FollowRedirects::None;
    options.backend = Some(Arc::new(Mutex::new(backend)));
    connection.set_transport_options(Box::new(options));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_stop_at_the_shared_budget() {
        let budget = Budget::new(6);
        let mut a = Capped {
            inner: &b"abcd"[..],
            budget: budget.clone(),
        };
        let mut b = Capped {
            inner: &b"efghij"[..],
            budget: budget.clone(),
        };
        let mut out = Vec::new();
        a.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcd");
        assert!(!budget.exhausted());
        let mut out = Vec::new();
        let err = b.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, b"ef", "only what the budget had left");
        assert!(err.to_string().contains("download bound"), "{err}");
        assert!(budget.exhausted());
        // A body that ends exactly at the budget is whole.
        let exact = Budget::new(3);
        let mut c = Capped {
            inner: &b"xyz"[..],
            budget: exact.clone(),
        };
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        assert!(!exact.exhausted());
    }
}
