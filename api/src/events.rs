//! Reading the CO's event stream (`GET /api/events`, Server-Sent Events) as
//! an iterator of [`Event`]s: `id:`, `event:` and `data:` fields, events
//! separated by a blank line, comments (`:` keep-alives) skipped. A `reset`
//! event (the server dropped events this client missed) comes through with
//! kind `reset` and id 0; a `shutdown` event (the server is stopping and
//! ends the stream) as [`ClientError::Stopping`], the stream's last item.

use std::io::{BufRead as _, Read as _};
use std::time::Duration;

use crate::client::{Client, ClientError};
use crate::routes;
use crate::types::Event;

/// Longest one request of the stream stays open; the caller reconnects.
const STREAM_FOR: Duration = Duration::from_secs(3600);
/// Longest line accepted.
const MAX_LINE: usize = 1 << 20;

/// Events as they arrive.
pub struct Events {
    reader: std::io::BufReader<reqwest::blocking::Response>,
    server: String,
    /// The server said it stops: nothing more comes.
    ended: bool,
}

impl Client {
    /// Open the event stream, resuming after event `after` when given.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses.
    pub fn events(&self, after: Option<u64>) -> Result<Events, ClientError> {
        self.site_events(None, after)
    }

    /// Open the event stream of one site (its events and rollouts', which
    /// span sites), or of all sites, resuming after event `after`.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (an unknown site: a
    /// problem naming the sites there are).
    pub fn site_events(
        &self,
        site: Option<&str>,
        after: Option<u64>,
    ) -> Result<Events, ClientError> {
        let mut url = reqwest::Url::parse(&format!("{}{}", self.server(), routes::EVENTS))
            .map_err(|_| ClientError::BadServer(self.server().to_owned()))?;
        if let Some(site) = site {
            url.query_pairs_mut().append_pair("site", site);
        }
        let mut req = self
            .http()
            .get(url)
            .timeout(STREAM_FOR)
            .header("accept", "text/event-stream");
        if let Some(id) = after {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = self.send_raw(req)?;
        Ok(Events {
            reader: std::io::BufReader::new(resp),
            server: self.server().to_owned(),
            ended: false,
        })
    }
}

impl Iterator for Events {
    type Item = Result<Event, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let mut kind = String::new();
        let mut data = String::new();
        loop {
            let mut line = String::new();
            let n = match (&mut self.reader)
                .take(MAX_LINE as u64)
                .read_line(&mut line)
            {
                Ok(n) => n,
                Err(e) => {
                    return Some(Err(ClientError::Unreachable {
                        server: self.server.clone(),
                        reason: e.to_string(),
                    }));
                }
            };
            if n == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if data.is_empty() {
                    continue;
                }
                if kind == "shutdown" {
                    self.ended = true;
                    return Some(Err(ClientError::Stopping {
                        server: self.server.clone(),
                    }));
                }
                if kind == "reset" {
                    return Some(Ok(Event {
                        id: 0,
                        kind,
                        subject: String::new(),
                        site: None,
                        data: serde_json::from_str(&data).unwrap_or_default(),
                        at: String::new(),
                    }));
                }
                return Some(
                    serde_json::from_str(&data).map_err(|e| ClientError::Unexpected {
                        status: 200,
                        body: format!("an event does not read: {e}"),
                    }),
                );
            }
            if let Some(v) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            } else if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_owned();
            }
            // `id:` repeats the event's own id; comments and others are skipped.
        }
    }
}
