//! [`SourcePolicy`]: which hosts an app source may name, and how much it may
//! send.
//!
//! A token holder names the URL the CO then fetches from, so without a
//! policy the CO would reach anything it can route to (its own loopback
//! services, the cloud metadata address, the plant network). Loopback,
//! private, link-local, unique-local, shared (CGNAT) and other non-public
//! addresses are denied unless an allow rule names them (a host name or a
//! CIDR range); deny rules win over allow rules. Names are resolved and
//! every address is checked, at the check and again at connection time (the
//! HTTP client's resolver returns only permitted addresses, so a name that
//! re-resolves to 127.0.0.1 is refused too). A refused host and a name that
//! does not resolve give the same sentence, so the error tells nothing about
//! what exists inside.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs as _};

/// The most bytes one app-source fetch downloads by default.
pub const MAX_DOWNLOAD_BYTES: u64 = 256 * 1024 * 1024;

/// One allow or deny rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// A host name, lower case, as written in URLs.
    Host(String),
    /// An address range.
    Net(IpAddr, u8),
}

impl Rule {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not a host or an address range; use a host name, an address or a CIDR such as 10.1.0.0/16"
            )
        };
        let t = text.trim();
        if let Some((addr, bits)) = t.split_once('/') {
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let bits: u8 = bits.parse().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(bad());
            }
            return Ok(Self::Net(canonical(addr), bits));
        }
        let bare = t.trim_start_matches('[').trim_end_matches(']');
        if let Ok(addr) = bare.parse::<IpAddr>() {
            let addr = canonical(addr);
            return Ok(Self::Net(addr, if addr.is_ipv4() { 32 } else { 128 }));
        }
        let ok = !t.is_empty()
            && t.len() <= 253
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !ok {
            return Err(bad());
        }
        Ok(Self::Host(t.to_ascii_lowercase()))
    }

    fn matches(&self, host: &str, ip: IpAddr) -> bool {
        match self {
            Self::Host(h) => h.eq_ignore_ascii_case(host),
            Self::Net(net, bits) => in_net(ip, *net, *bits),
        }
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Whether `ip` is an address an app source may not name unless allowed.
fn internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its low bits.
            let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4];
            let low = Ipv4Addr::from(u32::try_from(u128::from(v6) & 0xffff_ffff).unwrap_or(0));
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || (s[0..6] == [0; 6]) // IPv4-compatible ::/96
                || (nat64 && internal_v4(low))
                || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        }
    }
}

fn internal_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

/// Which hosts app sources may name, and how much one fetch may download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePolicy {
    allow: Vec<Rule>,
    deny: Vec<Rule>,
    /// The most bytes one fetch downloads (refs and pack together); the
    /// download stops when it gets there.
    pub max_download: u64,
}

impl Default for SourcePolicy {
    /// Public addresses only, [`MAX_DOWNLOAD_BYTES`].
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            deny: Vec::new(),
            max_download: MAX_DOWNLOAD_BYTES,
        }
    }
}

impl SourcePolicy {
    /// A policy with `allow` and `deny` rules: each a host name, an address or
    /// a CIDR range.
    ///
    /// # Errors
    /// The sentence for the first rule that does not read.
    pub fn new(allow: &[String], deny: &[String], max_download: u64) -> Result<Self, String> {
        Ok(Self {
            allow: allow
                .iter()
                .map(|r| Rule::parse(r))
                .collect::<Result<_, _>>()?,
            deny: deny
                .iter()
                .map(|r| Rule::parse(r))
                .collect::<Result<_, _>>()?,
            max_download,
        })
    }

    /// Whether `host` may be reached at `ip`.
    #[must_use]
    pub fn permits(&self, host: &str, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.deny.iter().any(|r| r.matches(host, ip)) {
            return false;
        }
        self.allow.iter().any(|r| r.matches(host, ip)) || !internal(ip)
    }

    /// The addresses of `host` this policy permits (an address literal is
    /// its own); empty when none is, or the name does not resolve.
    #[must_use]
    pub fn addresses(&self, host: &str, port: u16) -> Vec<SocketAddr> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let all: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => (bare, port)
                .to_socket_addrs()
                .map(Iterator::collect)
                .unwrap_or_default(),
        };
        all.into_iter()
            .filter(|a| self.permits(bare, a.ip()))
            .collect()
    }
}

/// The HTTP client's resolver under a policy: only permitted addresses.
#[derive(Debug, Clone)]
pub(super) struct Resolver(pub(super) std::sync::Arc<SourcePolicy>);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = policy.addresses(&host, 0);
            if found.is_empty() {
                return Err(format!("`{host}` is not a host app sources may reach").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_denied_unless_allowed() {
        let none = SourcePolicy::default();
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(!none.permits("h", ip(a)), "{a}");
        }
        for a in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            assert!(none.permits("h", ip(a)), "{a}");
        }
        let some = SourcePolicy::new(
            &["127.0.0.0/8".into(), "git.plant".into(), "fd00::/8".into()],
            &["8.8.8.8".into(), "127.0.0.2".into()],
            1,
        )
        .unwrap();
        assert!(some.permits("x", ip("127.0.0.1")));
        assert!(some.permits("x", ip("::ffff:127.0.0.1")));
        assert!(!some.permits("x", ip("127.0.0.2")), "deny wins");
        assert!(some.permits("GIT.plant", ip("10.0.0.9")), "by name");
        assert!(!some.permits("other", ip("10.0.0.9")));
        assert!(some.permits("x", ip("fd00::5")));
        assert!(!some.permits("x", ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "a b", "", "1.2.3.4/x", "::/129"] {
            assert!(SourcePolicy::new(&[bad.into()], &[], 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_resolved_and_their_addresses_checked() {
        let none = SourcePolicy::default();
        assert!(none.addresses("localhost", 80).is_empty());
        assert!(none.addresses("127.0.0.1", 80).is_empty());
        assert!(none.addresses("[::1]", 80).is_empty());
        assert!(none.addresses("no-such-host.invalid", 80).is_empty());
        let lo = SourcePolicy::new(&["127.0.0.1".into()], &[], 1).unwrap();
        assert_eq!(
            lo.addresses("127.0.0.1", 80),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
    }
}
