//! The collector's door for containers. They run on podman's default bridge
//! network and dial the node as `host.containers.internal`, which podman
//! points at the bridge's gateway address; a receiver on loopback is out of
//! their reach. So when the receiver is on loopback and podman is here, the
//! node also listens on that gateway address (asked of `podman network
//! inspect podman`, with a deadline), on the same port when it is free. The
//! socket is bound with `IP_FREEBIND`: podman makes the bridge, and gives it
//! the address, only once a first container runs. Never `0.0.0.0`; the
//! per-component token still authenticates every sender.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;

/// How long `podman network inspect` may take.
const DEADLINE: Duration = Duration::from_secs(10);
/// The most output of it read.
const MAX_OUTPUT: usize = 256 * 1024;

/// The IPv4 gateway of podman's default network, or why there is none.
pub(super) async fn gateway() -> anyhow::Result<IpAddr> {
    let mut cmd = tokio::process::Command::new("podman");
    cmd.args(["network", "inspect", "podman"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(DEADLINE, cmd.output())
        .await
        .map_err(|_| anyhow::anyhow!("`podman network inspect podman` took over {DEADLINE:?}"))?
        .context("cannot run `podman network inspect podman`")?;
    anyhow::ensure!(
        out.status.success(),
        "`podman network inspect podman` failed: {}",
        String::from_utf8_lossy(out.stderr.get(..512).unwrap_or(&out.stderr)).trim()
    );
    anyhow::ensure!(
        out.stdout.len() <= MAX_OUTPUT,
        "`podman network inspect podman` said too much"
    );
    parse(&out.stdout)
}

/// The first IPv4 `subnets[].gateway` of `podman network inspect` output.
fn parse(json: &[u8]) -> anyhow::Result<IpAddr> {
    let v: serde_json::Value =
        serde_json::from_slice(json).context("`podman network inspect podman` is not JSON")?;
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("subnets")?.as_array())
        .flatten()
        .filter_map(|s| s.get("gateway")?.as_str()?.parse::<IpAddr>().ok())
        .find(|ip| ip.is_ipv4() && !ip.is_unspecified() && !ip.is_loopback())
        .context("podman's network has no IPv4 gateway")
}

/// Listen on `ip`, on `port` if free, else on any port, whether or not
/// the address is the host's yet (`IP_FREEBIND`).
pub(super) fn listen(ip: IpAddr, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    let bind = |port: u16| -> std::io::Result<tokio::net::TcpListener> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        rustix::net::sockopt::set_ip_freebind(&socket, true)?;
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::new(ip, port))?;
        socket.listen(128)
    };
    bind(port)
        .or_else(|_| bind(0))
        .with_context(|| format!("cannot listen for OTLP on {ip}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_is_the_first_ipv4_one() {
        let out = br#"[{"name":"podman","subnets":[{"subnet":"fd00::/64","gateway":"fd00::1"},{"subnet":"10.88.0.0/16","gateway":"10.88.0.1"}]}]"#;
        assert_eq!(parse(out).unwrap().to_string(), "10.88.0.1");
        assert!(parse(br#"[{"subnets":[]}]"#).is_err());
        assert!(parse(b"not json").is_err());
    }
}
