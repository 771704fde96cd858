//! A `git http-backend` smart-HTTP server on loopback for tests.
//!
//! [`GitHttpServer::start`] listens on `127.0.0.1` on a port picked by the
//! kernel and serves every repository under a project root read-only over
//! Git's smart HTTP protocol (v0, v1 and v2): a small HTTP/1.1 server (one
//! thread per connection, keep-alive, `Content-Length` and chunked request
//! bodies, `Expect: 100-continue`) runs `git http-backend` as a CGI program
//! for each request and streams its answer back. The backend runs with a
//! cleared environment, a temporary `HOME` and a global configuration that
//! only trusts every directory (`safe.directory = *`), so the developer's Git
//! configuration never matters. Pushes are refused, because http-backend only
//! enables `receive-pack` for an authenticated `REMOTE_USER` and none is ever
//! set. Dropping the server stops accepting, closes open connections, kills
//! and reaps any backend still running and joins every thread. It must never
//! listen beyond loopback, enable pushes, or outlive the test that started it.

use std::collections::HashMap;
use std::io::{self, BufRead as _, BufReader, Read, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

/// The largest request body accepted, decoded (fetch negotiations are small;
/// this only stops a runaway client from filling memory).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The longest request line or header line accepted.
const MAX_LINE: usize = 16 * 1024;

/// The most header lines accepted in one request or CGI response.
const MAX_HEADERS: usize = 100;

/// A running server; stopped on drop.
#[derive(Debug)]
pub struct GitHttpServer {
    /// `http://127.0.0.1:PORT`; a repository `<root>/x.git` is at `{url}/x.git`.
    pub url: String,
    /// The project root given to [`GitHttpServer::start`].
    pub root: PathBuf,
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    // Deleted after the threads are joined (fields drop after `Drop::drop`).
    _home: tempfile::TempDir,
}

#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    /// Standard error of every backend run that wrote any, for diagnosis.
    backend_stderr: Mutex<Vec<String>>,
    /// Every request answered by the backend, in order.
    requests: Mutex<Vec<RequestRecord>>,
}

/// One request the server handed to `git http-backend`, for assertions about
/// what a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET` or `POST`.
    pub method: String,
    /// The path, like `/hello/git-upload-pack`.
    pub path: String,
    /// Whether the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The `Content-Encoding` of the body (`gzip` for big git requests).
    pub content_encoding: Option<String>,
    /// The `Git-Protocol` header (`version=2` for protocol v2).
    pub git_protocol: Option<String>,
    /// Body length after removing the chunked framing (still compressed).
    pub body_len: usize,
    /// The HTTP status the backend answered with.
    pub status: u16,
}

/// What one backend run needs besides the request.
#[derive(Debug, Clone)]
struct BackendEnv {
    root: PathBuf,
    home: PathBuf,
    global_config: PathBuf,
    path: Option<std::ffi::OsString>,
}

impl GitHttpServer {
    /// Serve the repositories under `project_root` (bare repositories or work
    /// trees with `.git`) on `127.0.0.1`, port picked by the kernel.
    pub fn start(project_root: &Path) -> io::Result<GitHttpServer> {
        let home = tempfile::Builder::new()
            .prefix("git-http-home-")
            .tempdir()?;
        let global_config = home.path().join("gitconfig");
        std::fs::write(&global_config, "[safe]\n\tdirectory = *\n")?;
        let root = std::fs::canonicalize(project_root)?;
        let env = BackendEnv {
            root: root.clone(),
            home: home.path().to_owned(),
            global_config,
            path: std::env::var_os("PATH"),
        };

        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            backend_stderr: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("git-http-accept".into())
                .spawn(move || accept_loop(&listener, &shared, &env))?
        };
        Ok(GitHttpServer {
            url: format!("http://{addr}"),
            root,
            addr,
            shared,
            acceptor: Some(acceptor),
            _home: home,
        })
    }

    /// What `git http-backend` wrote to standard error so far, one entry per
    /// run that wrote anything.
    #[must_use]
    pub fn backend_stderr(&self) -> Vec<String> {
        self.shared
            .backend_stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every request handed to the backend so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor blocked in `accept`; it sees the flag and quits.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, env: &BackendEnv) {
    let mut workers: Vec<(JoinHandle<()>, TcpStream)> = Vec::new();
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        workers.retain(|(worker, _)| !worker.is_finished());
        let Ok(stream) = stream else { continue };
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "127.0.0.1".to_owned(), |addr| addr.ip().to_string());
        let shared_for_worker = Arc::clone(shared);
        let env = env.clone();
        let spawned = thread::Builder::new()
            .name("git-http-conn".into())
            .spawn(move || serve_connection(stream, &peer, &shared_for_worker, &env));
        if let Ok(worker) = spawned {
            workers.push((worker, handle));
        }
    }
    // Unblock workers waiting for a next request on a kept-alive connection,
    // then wait for each (a worker kills and reaps its backend on the way out).
    for (_, stream) in &workers {
        let _ = stream.shutdown(Shutdown::Both);
    }
    for (worker, _) in workers {
        let _ = worker.join();
    }
}

/// One parsed request head.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    query: String,
    /// Header names lower-cased; repeated headers joined with `, `.
    headers: HashMap<String, String>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

fn serve_connection(stream: TcpStream, peer: &str, shared: &Shared, env: &BackendEnv) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    while !shared.stop.load(Ordering::SeqCst) {
        let request = match read_request_head(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return, // the client closed the connection
            Err(err) => {
                let _ = simple_response(&mut writer, 400, &err.to_string(), true);
                return;
            }
        };
        if request
            .header("expect")
            .is_some_and(|value| value.eq_ignore_ascii_case("100-continue"))
            && writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return;
        }
        let body = match read_body(&mut reader, &request) {
            Ok(body) => body,
            Err(err) => {
                let _ = simple_response(&mut writer, 400, &err.to_string(), true);
                return;
            }
        };
        let close = request
            .header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"));
        match run_backend(&request, peer, body, env, shared, &mut writer, close) {
            Ok(()) if !close => {}
            _ => return,
        }
    }
}

/// Read one line ending in `\n`, without it (and without a trailing `\r`).
/// `None` at a clean end of stream before any byte.
fn read_line(reader: &mut impl io::BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let read = reader
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.len() > MAX_LINE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in the middle of a line",
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "line is not UTF-8"))
}

fn read_request_head(reader: &mut impl io::BufRead) -> io::Result<Option<Request>> {
    // Tolerate empty lines between requests (RFC 9112 §2.2).
    let line = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => {}
            Some(line) => break line,
        }
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad("only HTTP/1.x is supported"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: HashMap<String, String> = HashMap::new();
    for _ in 0..=MAX_HEADERS {
        let line = read_line(reader)?.ok_or_else(|| bad("connection closed in the headers"))?;
        if line.is_empty() {
            return Ok(Some(Request {
                method: method.to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                headers,
            }));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("malformed header line"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        headers
            .entry(name)
            .and_modify(|old| {
                old.push_str(", ");
                old.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    Err(bad("too many headers"))
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// The decoded request body: `Content-Length` or chunked, else empty.
fn read_body(reader: &mut impl io::BufRead, request: &Request) -> io::Result<Vec<u8>> {
    if is_chunked(request) {
        let mut body = Vec::new();
        loop {
            let line = read_line(reader)?.ok_or_else(|| bad("connection closed in a chunk"))?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad("malformed chunk size"))?;
            if size == 0 {
                // Trailer fields, up to the empty line.
                while !read_line(reader)?
                    .ok_or_else(|| bad("connection closed in the trailer"))?
                    .is_empty()
                {}
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err(bad("request body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
            if &crlf != b"\r\n" {
                return Err(bad("chunk not followed by CRLF"));
            }
        }
    }
    let length = match request.header("content-length") {
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| bad("malformed Content-Length"))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(bad("request body too large"));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

fn simple_response(
    writer: &mut TcpStream,
    status: u16,
    message: &str,
    close: bool,
) -> io::Result<()> {
    let connection = if close { "close" } else { "keep-alive" };
    write!(
        writer,
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{message}",
        reason(status),
        message.len()
    )?;
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// Kills and reaps the backend when a request ends early (client gone,
/// server stopping); after a normal end it only reaps.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn run_backend(
    request: &Request,
    peer: &str,
    body: Vec<u8>,
    env: &BackendEnv,
    shared: &Shared,
    writer: &mut TcpStream,
    close: bool,
) -> io::Result<()> {
    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("GIT_PROJECT_ROOT", &env.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("HOME", &env.home)
        .env("GIT_CONFIG_GLOBAL", &env.global_config)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("SERVER_SOFTWARE", "edge-tests-git-http")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("REMOTE_ADDR", peer)
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir(&env.root);
    if let Some(path) = &env.path {
        command.env("PATH", path);
    }
    if let Some(content_type) = request.header("content-type") {
        command.env("CONTENT_TYPE", content_type);
    }
    if let Some(protocol) = request.header("git-protocol") {
        command.env("HTTP_GIT_PROTOCOL", protocol);
    }
    if let Some(encoding) = request.header("content-encoding") {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let mut child = match command.spawn() {
        Ok(child) => ChildGuard(child),
        Err(err) => {
            return simple_response(writer, 500, &format!("cannot run git: {err}"), true);
        }
    };
    let stdin = child.0.stdin.take();
    let stdout = child.0.stdout.take();
    let stderr = child.0.stderr.take();
    let (Some(mut stdin), Some(stdout), Some(mut stderr)) = (stdin, stdout, stderr) else {
        return simple_response(writer, 500, "backend pipes missing", true);
    };

    let mut record = RequestRecord {
        method: request.method.clone(),
        path: request.path.clone(),
        chunked: is_chunked(request),
        content_encoding: request.header("content-encoding").map(str::to_owned),
        git_protocol: request.header("git-protocol").map(str::to_owned),
        body_len: body.len(),
        status: 0,
    };
    let result = thread::scope(|scope| {
        // Feed the body and drain stderr while the answer streams out, so
        // neither pipe can fill up and stall the backend.
        scope.spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let errors = scope.spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let result = relay_response(stdout, writer, close);
        match &result {
            Ok(status) => record.status = *status,
            // The client is gone or the server is stopping: end the backend
            // so the pipe threads above cannot block on it forever.
            Err(_) => {
                let _ = child.0.kill();
            }
        }
        if let Ok(text) = errors.join()
            && !text.trim().is_empty()
        {
            shared
                .backend_stderr
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(text);
        }
        result
    });
    drop(child);
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(record);
    result.map(drop)
}

fn is_chunked(request: &Request) -> bool {
    request
        .header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"))
}

/// Translate the CGI answer on `stdout` into an HTTP/1.1 response; returns
/// the status sent.
fn relay_response(stdout: ChildStdout, writer: &mut TcpStream, close: bool) -> io::Result<u16> {
    let mut cgi = BufReader::new(stdout);
    let mut status = 200u16;
    let mut status_text = String::from("OK");
    let mut headers = Vec::new();
    let mut content_length = None;
    let mut lines = 0;
    loop {
        let Some(line) = read_line(&mut cgi)? else {
            return simple_response(writer, 500, "backend ended without headers", true)
                .map(|()| 500);
        };
        if line.is_empty() {
            break;
        }
        lines += 1;
        if lines > MAX_HEADERS {
            return simple_response(writer, 500, "backend sent too many headers", true)
                .map(|()| 500);
        }
        let Some((name, value)) = line.split_once(':') else {
            return simple_response(writer, 500, "backend sent a malformed header", true)
                .map(|()| 500);
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let (code, text) = value.split_once(' ').unwrap_or((value, ""));
            status = code.parse().unwrap_or(500);
            status_text = if text.is_empty() {
                reason(status).to_owned()
            } else {
                text.to_owned()
            };
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse::<u64>().ok();
        } else if !name.eq_ignore_ascii_case("transfer-encoding")
            && !name.eq_ignore_ascii_case("connection")
        {
            headers.push(format!("{name}: {value}"));
        }
    }

    let mut head = format!("HTTP/1.1 {status} {status_text}\r\n");
    for header in &headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    match content_length {
        Some(length) => head.push_str(&format!("Content-Length: {length}\r\n")),
        None => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    head.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "Connection: keep-alive\r\n\r\n"
    });
    writer.write_all(head.as_bytes())?;

    if let Some(length) = content_length {
        let copied = io::copy(&mut cgi.take(length), writer)?;
        if copied != length {
            // The promised length cannot be met: the connection must end.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "backend body shorter than its Content-Length",
            ));
        }
    } else {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let read = cgi.read(&mut buf)?;
            if read == 0 {
                break;
            }
            write!(writer, "{read:x}\r\n")?;
            writer.write_all(&buf[..read])?;
            writer.write_all(b"\r\n")?;
        }
        writer.write_all(b"0\r\n\r\n")?;
    }
    writer.flush()?;
    Ok(status)
}
