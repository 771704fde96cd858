//! Workload logs for `edgectl en logs`: pieces of `output.log` read
//! bounded, the last N lines (`tail`), and the lines written since a time
//! (`since`).
//!
//! A workload writes its log itself (its stdout and stderr are the file),
//! so lines carry no times. The node notes when the log grew instead:
//! every second [`LogTimes::sample`] records `(time, length)` when a log's
//! length changed, so "written since T" starts after the length noted last
//! before T, at the start of that line — precise to about a second, and
//! never missing a later line. A log first seen (the node started, or the
//! workload did) gets its last-modified time for the length it has: what
//! it holds was written by then. Marks are kept in memory, at most
//! [`MAX_MARKS`] per log, older ones thinned (which only moves a start
//! earlier); a log that shrinks or is replaced starts afresh.
//!
//! Nothing reads a log whole: `tail` looks back at most [`MAX_TAIL_SCAN`]
//! bytes, a line start at most [`BLOCK`] bytes, and an answer holds at most
//! [`MAX_LOG_CHUNK`] bytes (the client asks again from `next`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edge_api::node::LogChunk;

use super::node::Node;

/// How often the logs' lengths are noted.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Most marks kept per log.
const MAX_MARKS: usize = 512;
/// Farthest `tail` looks back from the end of a log.
pub(crate) const MAX_TAIL_SCAN: u64 = 32 * 1024 * 1024;
/// Bytes read at once looking backwards (and farthest a line start is looked for).
const BLOCK: u64 = 64 * 1024;
/// Largest piece of log in one answer.
pub(crate) const MAX_LOG_CHUNK: u64 = 256 * 1024;

/// What a log request asks for.
#[derive(Debug, Default, Clone, Copy, serde::Deserialize)]
pub(crate) struct LogQuery {
    /// Go on from here (following); `tail` and `since` then play no part.
    pub(crate) offset: Option<u64>,
    /// Only the last N lines.
    pub(crate) tail: Option<usize>,
    /// Only lines written since then (Unix milliseconds).
    pub(crate) since: Option<i64>,
}

/// The log's length at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    at_ms: i64,
    len: u64,
}

/// What is known of one log.
#[derive(Debug)]
struct Seen {
    inode: u64,
    marks: Vec<Mark>,
}

/// When each workload's log grew, as far as the node saw.
#[derive(Debug, Default)]
pub(crate) struct LogTimes {
    logs: Mutex<HashMap<PathBuf, Seen>>,
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    millis(SystemTime::now())
}

impl LogTimes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Seen>> {
        self.logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Note the length of each of `paths` at `now` (Unix milliseconds);
    /// forget logs no longer among them.
    pub(crate) fn sample(&self, paths: &[PathBuf], now: i64) {
        let mut logs = self.lock();
        logs.retain(|p, _| paths.contains(p));
        for path in paths {
            let Ok(meta) = std::fs::metadata(path) else {
                logs.remove(path);
                continue;
            };
            let len = meta.len();
            match logs.get_mut(path) {
                Some(seen)
                    if seen.inode == meta.ino()
                        && seen.marks.last().is_some_and(|m| m.len <= len) =>
                {
                    if seen.marks.last().is_some_and(|m| m.len < len) {
                        push(&mut seen.marks, Mark { at_ms: now, len });
                    }
                }
                // First seen, shrunk or replaced: what it holds was written
                // by its last change.
                _ => {
                    let at_ms = meta.modified().map_or(now, millis).min(now);
                    logs.insert(
                        path.clone(),
                        Seen {
                            inode: meta.ino(),
                            marks: vec![Mark { at_ms, len }],
                        },
                    );
                }
            }
        }
    }

    /// How much of the log at `path` was written before `t` (Unix
    /// milliseconds), as far as its marks tell: 0 when none is older.
    pub(crate) fn written_before(&self, path: &Path, t: i64) -> u64 {
        let logs = self.lock();
        let Some(seen) = logs.get(path) else {
            return 0;
        };
        let older = seen.marks.partition_point(|m| m.at_ms < t);
        older.checked_sub(1).map_or(0, |i| seen.marks[i].len)
    }
}

/// Add a mark, thinning the older half of a full list first.
fn push(marks: &mut Vec<Mark>, mark: Mark) {
    if marks.len() >= MAX_MARKS {
        let half = marks.len() / 2;
        let mut kept: Vec<Mark> = marks[..half].iter().step_by(2).copied().collect();
        kept.extend_from_slice(&marks[half..]);
        *marks = kept;
    }
    marks.push(mark);
}

/// Note the node's logs every [`SAMPLE_EVERY`] until the node is gone.
pub(crate) fn sampler(node: Weak<Node>, times: std::sync::Arc<LogTimes>) {
    loop {
        let Some(n) = node.upgrade() else { return };
        let paths = n.log_paths();
        drop(n);
        times.sample(&paths, now_ms());
        std::thread::sleep(SAMPLE_EVERY);
    }
}

/// Read `len` bytes before `end` (not before `floor`) into `buf`; the
/// offset they start at.
fn block_before(f: &mut File, floor: u64, end: u64, buf: &mut Vec<u8>) -> io::Result<u64> {
    let start = end.saturating_sub(BLOCK).max(floor);
    buf.clear();
    f.seek(SeekFrom::Start(start))?;
    f.by_ref().take(end - start).read_to_end(buf)?;
    Ok(start)
}

/// Where the last `n` lines of a log `len` bytes long start, looking back
/// no farther than `floor` nor [`MAX_TAIL_SCAN`] bytes.
pub(crate) fn tail_start(f: &mut File, floor: u64, len: u64, n: usize) -> io::Result<u64> {
    let limit = len.saturating_sub(MAX_TAIL_SCAN).max(floor);
    if n == 0 || len <= limit {
        return Ok(len);
    }
    let mut buf = Vec::new();
    let mut end = len;
    let mut found = 0;
    while end > limit {
        let start = block_before(f, limit, end, &mut buf)?;
        for (i, b) in buf.iter().enumerate().rev() {
            let at = start + i as u64;
            // The newline that ends the last line opens no line after it.
            if *b == b'\n' && at + 1 < len {
                found += 1;
                if found == n {
                    return Ok(at + 1);
                }
            }
        }
        if buf.is_empty() {
            break;
        }
        end = start;
    }
    Ok(limit)
}

/// The start of the line `offset` is in (looking back at most [`BLOCK`]
/// bytes, never before `floor`).
pub(crate) fn line_start(f: &mut File, floor: u64, offset: u64) -> io::Result<u64> {
    if offset <= floor {
        return Ok(floor);
    }
    let mut buf = Vec::new();
    let start = block_before(f, floor, offset, &mut buf)?;
    Ok(match buf.iter().rposition(|b| *b == b'\n') {
        Some(i) => start + i as u64 + 1,
        None if start == floor => floor,
        None => offset,
    })
}

/// The piece of the log at `path` that `q` asks for.
pub(crate) fn read(path: &Path, q: LogQuery, times: &LogTimes) -> io::Result<LogChunk> {
    read_up_to(path, q, times, MAX_LOG_CHUNK)
}

/// [`read`], at most `max` bytes of the log (a remote answer's bound).
pub(crate) fn read_up_to(
    path: &Path,
    q: LogQuery,
    times: &LogTimes,
    max: u64,
) -> io::Result<LogChunk> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(LogChunk {
                offset: 0,
                next: 0,
                end: 0,
                text: String::new(),
            });
        }
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let offset = match q {
        LogQuery {
            offset: Some(o), ..
        } => o.min(len),
        LogQuery {
            tail: None,
            since: None,
            ..
        } => len.saturating_sub(max),
        LogQuery { tail, since, .. } => {
            let floor = match since {
                Some(t) => {
                    let before = times.written_before(path, t).min(len);
                    line_start(&mut f, 0, before)?
                }
                None => 0,
            };
            match tail {
                Some(n) => tail_start(&mut f, floor, len, n)?,
                None => floor,
            }
        }
    };
    f.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    f.take(max).read_to_end(&mut bytes)?;
    Ok(LogChunk {
        offset,
        next: offset + bytes.len() as u64,
        end: len,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn log(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn tail(text: &str, floor: u64, n: usize) -> String {
        let (_dir, path) = log(text);
        let mut f = File::open(&path).unwrap();
        let start = tail_start(&mut f, floor, text.len() as u64, n).unwrap();
        text[usize::try_from(start).unwrap()..].to_owned()
    }

    #[test]
    fn the_last_lines_with_or_without_a_final_newline() {
        assert_eq!(tail("a\nb\nc\n", 0, 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc", 0, 2), "b\nc");
        assert_eq!(tail("a\nb\nc\n", 0, 1), "c\n");
        assert_eq!(tail("a\nb\nc\n", 0, 9), "a\nb\nc\n");
        assert_eq!(tail("a\nb\nc\n", 0, 0), "");
        assert_eq!(tail("", 0, 3), "");
        assert_eq!(tail("\n\n\n", 0, 2), "\n\n");
        // Never before the floor (the start of what `since` allows).
        assert_eq!(tail("a\nb\nc\n", 2, 9), "b\nc\n");
    }

    #[test]
    fn lines_are_counted_across_blocks() {
        let line = format!("{}\n", "x".repeat(999));
        let text: String = (0..200).map(|i| format!("{i:03}{line}")).collect();
        assert!(text.len() as u64 > 2 * BLOCK);
        let last = tail(&text, 0, 150);
        assert!(last.starts_with("050x"), "{}", &last[..10]);
        assert_eq!(last.lines().count(), 150);
    }

    #[test]
    fn a_line_start_is_found_behind_an_offset() {
        let (_dir, path) = log("one\ntwo\nthree\n");
        let mut f = File::open(&path).unwrap();
        assert_eq!(line_start(&mut f, 0, 6).unwrap(), 4);
        assert_eq!(line_start(&mut f, 0, 4).unwrap(), 4);
        assert_eq!(line_start(&mut f, 0, 2).unwrap(), 0);
        assert_eq!(line_start(&mut f, 0, 0).unwrap(), 0);
    }

    #[test]
    fn since_starts_after_what_was_written_before_and_never_later() {
        let (_dir, path) = log("old\n");
        let times = LogTimes::default();
        let mtime = millis(std::fs::metadata(&path).unwrap().modified().unwrap());
        // First seen: its four bytes were written by its last change.
        times.sample(std::slice::from_ref(&path), mtime + 10_000);
        assert_eq!(times.written_before(&path, mtime), 0);
        assert_eq!(times.written_before(&path, mtime + 1), 4);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"new\n")
            .unwrap();
        times.sample(std::slice::from_ref(&path), mtime + 20_000);
        assert_eq!(times.written_before(&path, mtime + 15_000), 4);
        assert_eq!(times.written_before(&path, mtime + 20_001), 8);
        let q = LogQuery {
            since: Some(mtime + 15_000),
            ..LogQuery::default()
        };
        let chunk = read(&path, q, &times).unwrap();
        assert_eq!((chunk.text.as_str(), chunk.end), ("new\n", 8));
        let q = LogQuery {
            since: Some(mtime + 15_000),
            tail: Some(5),
            ..LogQuery::default()
        };
        assert_eq!(read(&path, q, &times).unwrap().text, "new\n");
        // Cut shorter: known afresh, from its last change.
        std::fs::write(&path, "x\n").unwrap();
        times.sample(std::slice::from_ref(&path), mtime + 30_000);
        assert_eq!(times.written_before(&path, i64::MAX), 2);
        // Gone: forgotten.
        times.sample(&[], mtime + 40_000);
        assert!(times.lock().is_empty());
    }

    #[test]
    fn a_full_list_of_marks_thins_its_older_half() {
        let mut marks = Vec::new();
        for i in 0..(MAX_MARKS as i64 * 3) {
            push(
                &mut marks,
                Mark {
                    at_ms: i,
                    len: u64::try_from(i).unwrap(),
                },
            );
        }
        assert!(marks.len() <= MAX_MARKS);
        assert_eq!(marks[0].at_ms, 0, "the first mark stays");
        assert!(marks.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
        assert_eq!(marks.last().unwrap().at_ms, MAX_MARKS as i64 * 3 - 1);
    }

    #[test]
    fn an_offset_goes_on_from_there_and_a_missing_log_is_empty() {
        let (dir, path) = log("abc\ndef\n");
        let times = LogTimes::default();
        let q = LogQuery {
            offset: Some(4),
            tail: Some(1),
            ..LogQuery::default()
        };
        let chunk = read(&path, q, &times).unwrap();
        assert_eq!(
            (chunk.offset, chunk.next, chunk.text.as_str()),
            (4, 8, "def\n")
        );
        let none = read(&dir.path().join("nothing"), q, &times).unwrap();
        assert_eq!((none.next, none.end), (0, 0));
    }
}
