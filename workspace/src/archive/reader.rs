//! [`TarReader`]: the one reader of untrusted tar (optionally gzip) bytes.
//!
//! It parses the 512-byte headers itself rather than through the `tar`
//! crate, because that crate reads a GNU long-name (`L`, `K`) or PAX (`x`,
//! `g`) extension whole into memory whatever size its header declares: a
//! 2 MB gzip upload declaring a many-gigabyte long name made the CO resident
//! at 12.7 GB. Here an extension header's declared size is compared with
//! [`Limits::max_header`] before one byte of it is read, the decompressed
//! stream stops at [`Limits::max_stream`], the declared sizes of all entries
//! at [`Limits::max_bytes`] and their number at [`Limits::max_entries`].
//! Every refusal names the cap it hit. What it yields is the header of each
//! entry (path, link target, kind, size, mode); the entry's data is read
//! from the reader itself until the next [`TarReader::next_entry`].

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use super::{ArchiveError, Limits};

const BLOCK: usize = 512;
/// Most extension headers (long names, PAX) before one entry.
const MAX_EXTENSIONS: usize = 8;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file (`0`, NUL, or contiguous `7`).
    File,
    /// A folder (`5`).
    Dir,
    /// A symbolic link (`2`).
    Symlink,
    /// A hard link (`1`).
    HardLink,
    /// Anything else (devices, fifos, sparse files...), by its type flag.
    Other(u8),
}

/// One entry's header, with long names and PAX values applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path as written (not checked: callers refuse `..` and absolute paths).
    pub path: PathBuf,
    /// The link target, for links.
    pub link: Option<PathBuf>,
    /// What it is.
    pub kind: Kind,
    /// Bytes of data that follow.
    pub size: u64,
    /// Permission bits as written.
    pub mode: u32,
}

/// A decompressed stream that stops at a cap and remembers that it did.
struct Capped<'a> {
    inner: Box<dyn Read + 'a>,
    left: u64,
    hit: bool,
}

impl Read for Capped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more tells a stream that ends exactly here apart.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.hit = true;
            return Err(std::io::Error::other(
                "the archive unpacks to more than its cap allows",
            ));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads an untrusted tar, optionally gzip-compressed, within [`Limits`].
pub struct TarReader<'a> {
    stream: Capped<'a>,
    limits: Limits,
    /// Data of the current entry not read yet.
    data_left: u64,
    /// Padding after the current entry's data.
    pad_left: u64,
    entries: usize,
    total: u64,
    done: bool,
}

impl<'a> TarReader<'a> {
    /// A reader of `bytes`: gzip when they start with its magic, else tar.
    #[must_use]
    pub fn new(bytes: &'a [u8], limits: Limits) -> Self {
        let inner: Box<dyn Read + 'a> = if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(bytes))
        } else {
            Box::new(bytes)
        };
        Self {
            stream: Capped {
                inner,
                left: limits.max_stream,
                hit: false,
            },
            limits,
            data_left: 0,
            pad_left: 0,
            entries: 0,
            total: 0,
            done: false,
        }
    }

    /// What an error reading this archive (its data included) means: a cap
    /// reached, the archive cut short, or bytes that are no archive.
    #[must_use]
    pub fn fail(&self, e: &std::io::Error) -> ArchiveError {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ArchiveError::Format("the archive ends in the middle of an entry".into())
        } else if self.stream.hit {
            ArchiveError::TooLarge(format!(
                "it unpacks to more than {} bytes (the cap on an unpacked archive)",
                self.limits.max_stream
            ))
        } else {
            ArchiveError::Format(e.to_string())
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ArchiveError> {
        self.stream.read_exact(buf).map_err(|e| self.fail(&e))
    }

    fn skip(&mut self, mut n: u64) -> Result<(), ArchiveError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let chunk = usize::try_from(n.min(buf.len() as u64)).unwrap_or(buf.len());
            self.read_exact(&mut buf[..chunk])?;
            n -= chunk as u64;
        }
        Ok(())
    }

    /// The next entry's header (skipping what is left of the current one),
    /// or `None` at the end of the archive.
    ///
    /// # Errors
    /// A malformed header, or any cap of [`Limits`] reached.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ArchiveError> {
        if self.done {
            return Ok(None);
        }
        let rest = self.data_left + self.pad_left;
        self.data_left = 0;
        self.pad_left = 0;
        self.skip(rest)?;
        let mut long_name = None;
        let mut long_link = None;
        let mut pax = Pax::default();
        for extensions in 0..=MAX_EXTENSIONS {
            let mut block = [0u8; BLOCK];
            // No end-of-archive blocks is an end too; some writers stop so.
            let end = match self.stream.read(&mut block[..1]) {
                Ok(0) => true,
                Ok(_) => {
                    self.read_exact(&mut block[1..])?;
                    block.iter().all(|b| *b == 0)
                }
                Err(e) => return Err(self.fail(&e)),
            };
            if end {
                if extensions > 0 {
                    return Err(ArchiveError::Format(
                        "the archive ends after a long-name or PAX header".into(),
                    ));
                }
                self.done = true;
                return Ok(None);
            }
            let h = Raw::parse(&block)?;
            if matches!(h.flag, b'L' | b'K' | b'x' | b'g') {
                if h.size > self.limits.max_header {
                    return Err(ArchiveError::TooLarge(format!(
                        "a long-name or PAX header declares {} bytes, over the cap of {} bytes",
                        h.size, self.limits.max_header
                    )));
                }
                // Within `max_header`, so it fits in memory.
                let len = usize::try_from(h.size).unwrap_or(usize::MAX);
                let mut data = vec![0u8; len];
                self.read_exact(&mut data)?;
                self.skip(padding(h.size))?;
                match h.flag {
                    b'L' => long_name = Some(until_nul(&data).to_vec()),
                    b'K' => long_link = Some(until_nul(&data).to_vec()),
                    b'x' => pax.read(&data)?,
                    _ => {} // global PAX values: nothing we use
                }
                continue;
            }
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(ArchiveError::TooLarge(format!(
                    "more than {} entries",
                    self.limits.max_entries
                )));
            }
            let size = pax.size.unwrap_or(h.size);
            self.total = self.total.saturating_add(size);
            if self.total > self.limits.max_bytes {
                return Err(ArchiveError::TooLarge(format!(
                    "more than {} bytes of content",
                    self.limits.max_bytes
                )));
            }
            let path = pax.path.or(long_name).unwrap_or(h.name);
            let link = pax.link.or(long_link).or(h.link);
            let kind = match h.flag {
                b'0' | 0 | b'7' => Kind::File,
                b'5' => Kind::Dir,
                b'2' => Kind::Symlink,
                b'1' => Kind::HardLink,
                other => Kind::Other(other),
            };
            // Old tars mark folders with a trailing slash only.
            let kind = if kind == Kind::File && h.flag == 0 && path.ends_with(b"/") {
                Kind::Dir
            } else {
                kind
            };
            self.data_left = size;
            self.pad_left = padding(size);
            return Ok(Some(Entry {
                path: PathBuf::from(OsStr::from_bytes(&path)),
                link: link.map(|l| PathBuf::from(OsStr::from_bytes(&l))),
                kind,
                size,
                mode: h.mode,
            }));
        }
        Err(ArchiveError::Format(format!(
            "more than {MAX_EXTENSIONS} long-name or PAX headers before one entry"
        )))
    }
}

impl Read for TarReader<'_> {
    /// The current entry's data.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data_left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.data_left).unwrap_or(usize::MAX));
        let n = self.stream.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the archive ends in the middle of an entry",
            ));
        }
        self.data_left -= n as u64;
        Ok(n)
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|c| *c == 0).map_or(b, |i| &b[..i])
}

/// The fields of one 512-byte header we use.
struct Raw {
    name: Vec<u8>,
    link: Option<Vec<u8>>,
    mode: u32,
    size: u64,
    flag: u8,
}

impl Raw {
    fn parse(b: &[u8; BLOCK]) -> Result<Self, ArchiveError> {
        let bad = |what: &str| ArchiveError::Format(format!("a header's {what} does not read"));
        let want = number(&b[148..156]).ok_or_else(|| bad("checksum"))?;
        let sum: u64 = b
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(*c)
                }
            })
            .sum();
        if want != sum {
            return Err(ArchiveError::Format(
                "a header's checksum does not match; this is not a tar archive".into(),
            ));
        }
        let size = number(&b[124..136]).ok_or_else(|| bad("size"))?;
        let mode = number(&b[100..108]).ok_or_else(|| bad("mode"))?;
        let mut name = until_nul(&b[..100]).to_vec();
        // POSIX ustar keeps a path prefix; GNU (`ustar  `) keeps times there.
        if &b[257..263] == b"ustar\0" {
            let prefix = until_nul(&b[345..500]);
            if !prefix.is_empty() {
                name = [prefix, b"/", &name].concat();
            }
        }
        let link = until_nul(&b[157..257]);
        Ok(Self {
            name,
            link: (!link.is_empty()).then(|| link.to_vec()),
            mode: u32::try_from(mode & 0o7777).unwrap_or(0),
            size,
            flag: b[156],
        })
    }
}

/// An octal field (NUL/space padded) or GNU base-256 (high bit set).
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    let text = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ');
    // An all-blank field is zero (some writers leave unused fields so).
    let mut v: u64 = 0;
    for c in text {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// The PAX values we use.
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
}

impl Pax {
    /// Records of `<length> <key>=<value>\n`.
    fn read(&mut self, mut data: &[u8]) -> Result<(), ArchiveError> {
        let bad = || ArchiveError::Format("a PAX header does not read".into());
        while !data.is_empty() {
            if data.iter().all(|b| *b == 0) {
                break;
            }
            let space = data.iter().position(|b| *b == b' ').ok_or_else(bad)?;
            let len: usize = std::str::from_utf8(&data[..space])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?;
            if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
                return Err(bad());
            }
            let record = &data[space + 1..len - 1];
            let eq = record.iter().position(|b| *b == b'=').ok_or_else(bad)?;
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            match key {
                b"path" => self.path = Some(value.to_vec()),
                b"linkpath" => self.link = Some(value.to_vec()),
                b"size" => {
                    self.size = Some(
                        std::str::from_utf8(value)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(bad)?,
                    );
                }
                _ => {}
            }
            data = &data[len..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8], limits: Limits) -> Result<Vec<(Entry, Vec<u8>)>, ArchiveError> {
        let mut tar = TarReader::new(bytes, limits);
        let mut out = Vec::new();
        while let Some(e) = tar.next_entry()? {
            let mut data = Vec::new();
            tar.read_to_end(&mut data).map_err(|e| tar.fail(&e))?;
            out.push((e, data));
        }
        Ok(out)
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// A header of type `flag` declaring `size` bytes, and no data.
    fn declaring(flag: u8, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_path("././@LongLink").unwrap();
        h.set_entry_type(tar::EntryType::new(flag));
        h.set_size(size);
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(&[b'a'; 4096]);
        out
    }

    #[test]
    fn long_names_pax_paths_and_ustar_prefixes_are_applied() {
        let long = format!("{}/file.txt", "d".repeat(300));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o755);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        b.append_pax_extensions([("path", &b"pax/named"[..])])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_path("ignored").unwrap();
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path(format!("{}/{}", "p".repeat(120), "q".repeat(60)))
            .unwrap();
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let bytes = b.into_inner().unwrap();
        for bytes in [bytes.clone(), gz(&bytes)] {
            let got = all(&bytes, Limits::default()).unwrap();
            assert_eq!(got.len(), 3);
            assert_eq!(got[0].0.path, PathBuf::from(&long));
            assert_eq!((got[0].0.kind, got[0].0.mode), (Kind::File, 0o755));
            assert_eq!(got[0].1, b"abc");
            assert_eq!(got[1].0.path, PathBuf::from("pax/named"));
            assert_eq!(got[1].1, b"x");
            assert_eq!(got[2].0.kind, Kind::Dir);
            assert_eq!(
                got[2].0.path,
                PathBuf::from(format!("{}/{}", "p".repeat(120), "q".repeat(60)))
            );
        }
    }

    #[test]
    fn an_extension_header_over_the_cap_is_refused_before_it_is_read() {
        for flag in [b'L', b'K', b'x', b'g'] {
            // Declares 8 GiB; the reader must not try to allocate or read it.
            let e = all(&declaring(flag, 8 << 30), Limits::default()).unwrap_err();
            assert!(matches!(e, ArchiveError::TooLarge(_)), "{e}");
            assert!(e.to_string().contains("over the cap of 65536 bytes"), "{e}");
        }
        // At the cap it is read (and then the archive ends early).
        let e = all(&declaring(b'L', 4096), Limits::default()).unwrap_err();
        assert!(matches!(e, ArchiveError::Format(_)), "{e}");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_stream_cap() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(8 << 20);
        b.append_data(&mut h, "zeros", std::io::repeat(0).take(8 << 20))
            .unwrap();
        let bomb = gz(&b.into_inner().unwrap());
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let limits = Limits {
            max_stream: 1 << 20,
            ..Limits::of(1 << 30, 10)
        };
        let e = all(&bomb, limits).unwrap_err();
        assert!(
            e.to_string().contains("unpacks to more than 1048576 bytes"),
            "{e}"
        );
        // Content over `max_bytes` is refused on the declared size.
        let e = all(&bomb, Limits::of(1 << 20, 10)).unwrap_err();
        assert!(
            e.to_string().contains("more than 1048576 bytes of content"),
            "{e}"
        );
    }

    #[test]
    fn bad_headers_are_refused() {
        let mut h = tar::Header::new_gnu();
        h.set_path("f").unwrap();
        h.set_size(0);
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes[0] = b'g';
        let e = all(&bytes, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        let e = all(b"not a tar at all", Limits::default()).unwrap_err();
        assert!(matches!(e, ArchiveError::Format(_)), "{e}");
        // More entries than allowed.
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..3 {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            b.append_data(&mut h, format!("f{i}"), &[][..]).unwrap();
        }
        let e = all(&b.into_inner().unwrap(), Limits::of(10, 2)).unwrap_err();
        assert!(e.to_string().contains("more than 2 entries"), "{e}");
        // A malformed PAX record.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("pax").unwrap();
        h.set_size(7);
        h.set_cksum();
        b.append(&h, &b"99 a=b\n"[..]).unwrap();
        let e = all(&b.into_inner().unwrap(), Limits::default()).unwrap_err();
        assert!(e.to_string().contains("PAX"), "{e}");
    }

    #[test]
    fn base_256_sizes_read() {
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(b"0000644 \0"), Some(0o644));
        assert_eq!(number(b"        "), Some(0));
        assert_eq!(number(b"9"), None);
        assert_eq!(number(&[0xff; 12]), None);
    }
}
