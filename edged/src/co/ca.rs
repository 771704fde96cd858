//! The CO's certificate authority and the identities it issues (DESIGN §6,
//! Margo MIAF): X.509 certificates whose URI SAN is a SPIFFE ID —
//! `spiffe://<trust-domain>/margo/wfm/<site>` for a site's Local Orchestrator,
//! `spiffe://<trust-domain>/margo/wfm/<site>/client/<device>` for a device,
//! and `…/margo/wfm/co` for the CO's own south listener.
//!
//! Keys are generated here (central key generation, which MIAF allows) and
//! handed out once in an enrolment bundle; the CO keeps only each certificate's
//! SHA-256 fingerprint, by which the south listener recognizes the caller on
//! every request, and a revocation mark that makes the next request fail.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

/// The CA: the generation that signs (its certificate and key), a staged
/// next generation, and retired ones still trusted, with the bundle's
/// `spiffe_sequence`. Immutable: a rotation step makes a new `Ca`, written
/// to disk first (`rotate.rs`).
pub(crate) struct Ca {
    pub(super) trust_domain: String,
    pub(super) dir: std::path::PathBuf,
    pub(super) active: Generation,
    pub(super) next: Option<Generation>,
    pub(super) retired: Vec<Retired>,
    pub(super) sequence: u64,
    /// The anchors, active first, as PEM: `DATA/ca/ca.crt`, the trust bundle.
    cert_pem: String,
}

/// One CA generation with its key.
pub(crate) struct Generation {
    pub(super) number: u32,
    pub(super) cert_pem: String,
    pub(super) key: KeyPair,
    /// When it was staged or made active, seconds since the epoch.
    pub(super) since: i64,
}

/// A former signing CA, still in the bundle while identities it issued may
/// be valid; its key is gone.
#[derive(Clone)]
pub(crate) struct Retired {
    pub(super) number: u32,
    pub(super) cert_pem: String,
    pub(super) retired_at: i64,
}

/// A freshly issued identity.
pub(crate) struct Issued {
    pub(crate) spiffe_id: String,
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) fingerprint: String,
    pub(crate) not_after: String,
}

/// The CA certificate's parameters of generation `number` (its subject
/// names the generation from the second on, so anchors are told apart).
pub(super) fn ca_params(trust_domain: &str, number: u32) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let name = if number <= 1 {
        format!("edged CA for {trust_domain}")
    } else {
        format!("edged CA for {trust_domain} (generation {number})")
    };
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
    p
}

impl Ca {
    /// Open the CA in `dir`, creating it (key mode 0600) on first start.
    pub(crate) fn open_or_create(dir: &Path, trust_domain: &str) -> anyhow::Result<Self> {
        let td_path = dir.join("trust-domain");
        if td_path.exists() {
            let pinned = fs::read_to_string(&td_path).unwrap_or_default();
            anyhow::ensure!(
                pinned.trim() == trust_domain,
                "this CA belongs to trust domain `{}`, not `{trust_domain}`: start with `--trust-domain {}` (identities already issued name it)",
                pinned.trim(),
                pinned.trim()
            );
        }
        if let Some(ca) = super::rotate::open(dir, trust_domain)? {
            return Ok(ca);
        }
        let (cert_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
        if key_path.exists() {
            let key_pem = fs::read_to_string(&key_path)
                .with_context(|| format!("cannot read `{}`", key_path.display()))?;
            let key = KeyPair::from_pem(&key_pem)
                .with_context(|| format!("`{}` is not a usable key", key_path.display()))?;
            let cert_pem = fs::read_to_string(&cert_path)
                .with_context(|| format!("cannot read `{}`", cert_path.display()))?;
            return Ok(Self::assemble(
                trust_domain,
                dir,
                Generation {
                    number: 1,
                    cert_pem,
                    key,
                    since: 0,
                },
                None,
                Vec::new(),
                1,
            ));
        }
        fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
        let key = KeyPair::generate().context("cannot generate the CA key")?;
        let cert = ca_params(trust_domain, 1)
            .self_signed(&key)
            .context("cannot create the CA certificate")?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)
            .with_context(|| format!("cannot create `{}`", key_path.display()))?;
        f.write_all(key.serialize_pem().as_bytes())?;
        f.sync_all()?;
        fs::write(&cert_path, cert.pem())?;
        fs::write(&td_path, format!("{trust_domain}\n"))?;
        Ok(Self::assemble(
            trust_domain,
            dir,
            Generation {
                number: 1,
                cert_pem: cert.pem(),
                key,
                since: 0,
            },
            None,
            Vec::new(),
            1,
        ))
    }

    pub(super) fn assemble(
        trust_domain: &str,
        dir: &Path,
        active: Generation,
        next: Option<Generation>,
        retired: Vec<Retired>,
        sequence: u64,
    ) -> Self {
        let mut cert_pem = active.cert_pem.clone();
        if let Some(n) = &next {
            cert_pem.push_str(&n.cert_pem);
        }
        for r in &retired {
            cert_pem.push_str(&r.cert_pem);
        }
        Self {
            trust_domain: trust_domain.to_owned(),
            dir: dir.to_owned(),
            active,
            next,
            retired,
            sequence,
            cert_pem,
        }
    }

    /// Every trust anchor (active, staged, retired), PEM: the trust bundle
    /// handed out at enrolment and served by the Trust Bundle API.
    pub(crate) fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The signing CA's certificate, PEM.
    pub(crate) fn active_pem(&self) -> &str {
        &self.active.cert_pem
    }

    /// The trust domain its identities name.
    pub(crate) fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The bundle's `spiffe_sequence`: one more with every rotation step.
    pub(crate) fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Sign `message` with the signing CA's key (a site stick's statement,
    /// which starts with its `purpose` so it cannot pass for a certificate).
    pub(crate) fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        rcgen::SigningKey::sign(&self.active.key, message).context("cannot sign with the CA key")
    }

    /// The SPIFFE ID of a site's LO, or of a device at that site.
    pub(crate) fn spiffe_id(&self, site: &str, device: Option<&str>) -> String {
        match device {
            Some(d) => format!("spiffe://{}/margo/wfm/{site}/client/{d}", self.trust_domain),
            None => format!("spiffe://{}/margo/wfm/{site}", self.trust_domain),
        }
    }

    /// Issue a certificate for `spiffe_id`, valid for `days`, with extra DNS
    /// names and IP addresses (for servers).
    pub(crate) fn issue(
        &self,
        spiffe_id: &str,
        days: i64,
        names: &[String],
        server: bool,
    ) -> anyhow::Result<Issued> {
        let key = KeyPair::generate().context("cannot generate a key")?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, spiffe_id);
        p.distinguished_name = dn;
        p.subject_alt_names.push(SanType::URI(
            spiffe_id
                .try_into()
                .context("the SPIFFE ID is not a valid URI")?,
        ));
        for n in names {
            match n.parse::<std::net::IpAddr>() {
                Ok(ip) => p.subject_alt_names.push(SanType::IpAddress(ip)),
                Err(_) => p.subject_alt_names.push(SanType::DnsName(
                    n.as_str().try_into().context("not a DNS name")?,
                )),
            }
        }
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = if server {
            vec![
                ExtendedKeyUsagePurpose::ClientAuth,
                ExtendedKeyUsagePurpose::ServerAuth,
            ]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::minutes(5);
        p.not_after = now + time::Duration::days(days);
        p.serial_number = Some(SerialNumber::from_slice(uuid::Uuid::new_v4().as_bytes()));
        let issuer = Issuer::new(
            ca_params(&self.trust_domain, self.active.number),
            &self.active.key,
        );
        let cert = p
            .signed_by(&key, &issuer)
            .context("cannot sign the certificate")?;
        Ok(Issued {
            spiffe_id: spiffe_id.to_owned(),
            fingerprint: fingerprint(cert.der()),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_after: crate::clock::format_unix(p.not_after.unix_timestamp()),
        })
    }
}

/// The SHA-256 fingerprint of a certificate's DER bytes.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    edge_model::digest::sha256(der).to_string()
}

#[cfg(test)]
mod tests {
    use edge_workspace::stick::signed::{PURPOSE, to_hex, verify};
    use edge_workspace::stick::{SignatureError, Statement};

    use super::*;

    fn statement() -> Statement {
        Statement {
            purpose: PURPOSE.into(),
            format: edge_workspace::stick::FORMAT,
            site: "plant-1".into(),
            head: "0123456789abcdef0123456789abcdef01234567".into(),
            exported_at: "2026-01-01T00:00:00Z".into(),
            artifacts: vec![],
            revoked: vec!["sha256:aa".into()],
            issued: vec!["sha256:bb".into()],
        }
    }

    #[test]
    fn a_stick_statement_verifies_only_against_its_own_ca_and_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::open_or_create(&dir.path().join("a"), "edge.local").unwrap();
        let other = Ca::open_or_create(&dir.path().join("b"), "edge.local").unwrap();
        let s = statement();
        let sig = to_hex(&ca.sign(&s.bytes()).unwrap());
        verify(ca.cert_pem().as_bytes(), &s, &sig).unwrap();
        assert_eq!(
            verify(other.cert_pem().as_bytes(), &s, &sig),
            Err(SignatureError::Mismatch)
        );
        let mut changed = s.clone();
        changed.revoked.clear();
        assert_eq!(
            verify(ca.cert_pem().as_bytes(), &changed, &sig),
            Err(SignatureError::Mismatch)
        );
        let forged = to_hex(&other.sign(&s.bytes()).unwrap());
        assert_eq!(
            verify(ca.cert_pem().as_bytes(), &s, &forged),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(ca.cert_pem().as_bytes(), &s, "zz"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn what_the_ca_issues_is_an_x509_svid_both_ends_accept() {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, UnixTime};

        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::open_or_create(&dir.path().join("a"), "edge.local").unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
            .unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let listener =
            edge_api::mtls::svid::SvidClientVerifier::new(std::sync::Arc::new(roots), provider)
                .unwrap();
        let now = i64::try_from(UnixTime::now().as_secs()).unwrap();
        for (id, server) in [
            ("spiffe://edge.local/margo/wfm/co", true),
            ("spiffe://edge.local/margo/wfm/plant-1", true),
            ("spiffe://edge.local/margo/wfm/plant-1/client/edge-1", false),
        ] {
            let issued = ca.issue(id, 30, &["127.0.0.1".into()], server).unwrap();
            let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
            let checked = edge_api::mtls::svid::check_leaf(&der, now).unwrap();
            assert_eq!(checked.wfm, id.split('/').nth(5).unwrap(), "{id}");
            rustls::server::danger::ClientCertVerifier::verify_client_cert(
                &listener,
                &der,
                &[],
                UnixTime::now(),
            )
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        }
    }
}
