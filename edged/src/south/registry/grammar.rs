//! The OCI Distribution Spec's grammar for what a client puts in a path:
//! repository names, tags, and the split of a registry reference
//! (`host[:port]/name[:tag|@digest]`) into the name this registry serves it
//! under and the tag. Every path part is checked here before anything is
//! looked up.

/// Longest repository name accepted (the spec lets registries bound it;
/// 255 is what most do).
pub(crate) const MAX_NAME: usize = 255;

/// Whether `name` is a repository name: `/`-separated components, each
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, at most [`MAX_NAME`] bytes.
pub(crate) fn name_ok(name: &str) -> bool {
    name.len() <= MAX_NAME && !name.is_empty() && name.split('/').all(component_ok)
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Between alphanumeric runs: one `.`, one or two `_`, or any `-`s.
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let fine = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !fine {
            return false;
        }
    }
    true
}

/// Whether `tag` is a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub(crate) fn tag_ok(tag: &str) -> bool {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// A registry reference split: the registry host (with its port), the
/// repository name on it, and the tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Split<'a> {
    pub(crate) host: &'a str,
    pub(crate) name: &'a str,
    pub(crate) tag: Option<&'a str>,
    pub(crate) digest: Option<&'a str>,
}

/// Split `host[:port]/name[:tag][@digest]` (no `oci://`); `None` when it
/// has no host part or its name breaks the grammar.
pub(crate) fn split(reference: &str) -> Option<Split<'_>> {
    let (host, rest) = reference.split_once('/')?;
    if host.is_empty() {
        return None;
    }
    let (rest, digest) = match rest.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (rest, None),
    };
    let last = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last..].rfind(':') {
        Some(i) => (&rest[..last + i], Some(&rest[last + i + 1..])),
        None => (rest, None),
    };
    (name_ok(name) && tag.is_none_or(tag_ok)).then_some(Split {
        host,
        name,
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        for good in [
            "a",
            "hello-wasm/hello",
            "library/busybox",
            "a.b/c__d/e---f/g_h",
            "0/1",
        ] {
            assert!(name_ok(good), "{good}");
        }
        for bad in [
            "",
            "A",
            "-a",
            "a-",
            "a/",
            "/a",
            "a//b",
            "a..b",
            "a___b",
            "a._b",
            "a:b",
            "../x",
            "a/./b",
            "ü",
            &"a".repeat(256),
        ] {
            assert!(!name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn tags_follow_the_spec() {
        for good in [
            "1.0.0",
            "latest",
            "_x",
            "1.0.0-rc.1_build.5",
            &"a".repeat(128),
        ] {
            assert!(tag_ok(good), "{good}");
        }
        for bad in [
            "",
            ".x",
            "-x",
            "1.0.0+build",
            "a/b",
            "a:b",
            &"a".repeat(129),
        ] {
            assert!(!tag_ok(bad), "{bad}");
        }
    }

    #[test]
    fn references_split_at_the_host_and_tag() {
        let s = split("127.0.0.1:5000/stick/hello:1.0.0").unwrap();
        assert_eq!(
            (s.host, s.name, s.tag, s.digest),
            ("127.0.0.1:5000", "stick/hello", Some("1.0.0"), None)
        );
        let s = split("docker.io/library/busybox@sha256:ab").unwrap();
        assert_eq!(
            (s.name, s.tag, s.digest),
            ("library/busybox", None, Some("sha256:ab"))
        );
        let s = split("reg:5000/a/b").unwrap();
        assert_eq!((s.name, s.tag), ("a/b", None));
        assert!(split("busybox").is_none(), "no host");
        assert!(split("reg/Upper:1").is_none());
        assert!(split("reg/a:bad+tag").is_none());
    }
}
