//! Identities: enrolment and revocation of Local Orchestrators and devices
//! (the operator step of MIAF, no trust on first use), and the check of
//! every south request's caller. `enroll` issues an identity and returns
//! its key once, revoking the earlier certificates of the same SPIFFE ID;
//! `revoke` marks a site's LO or a device revoked; the caller
//! of each request is looked up by its certificate's fingerprint, so a
//! revocation takes effect at once.

use edge_api::types::{EnrollRequest, Enrollment, RevokeRequest};
use edge_model::DeviceId;

use crate::co::db::identities::{self as db, IdentityRow};
use crate::co::db::sites::device;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::south::{Caller, Principal, segment_ok};

/// Validity of an LO identity, days.
const LO_DAYS: i64 = 90;
/// Validity of a device identity, days.
const DEVICE_DAYS: i64 = 30;
/// Most host names and addresses an LO's certificate names.
const MAX_NAMES: usize = 16;

/// The first of `names` that a certificate cannot name as a server (an IP
/// address, or a DNS name: labels of letters, digits and inner `-`, 1–63
/// bytes each, 253 in all), with why; `None` when all can.
fn bad_name(names: &[String]) -> Option<String> {
    if names.len() > MAX_NAMES {
        return Some(format!(
            "{} names; an LO's certificate names at most {MAX_NAMES}",
            names.len()
        ));
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    names.iter().find_map(|n| {
        let fine =
            n.parse::<std::net::IpAddr>().is_ok() || (n.len() <= 253 && n.split('.').all(label_ok));
        (!fine).then(|| {
            format!(
                "`{}` is neither an IP address nor a DNS name",
                n.chars().take(300).collect::<String>()
            )
        })
    })
}

/// Issue an identity for a site's Local Orchestrator, or for a device of the site.
pub(crate) fn enroll(store: &Store, req: &EnrollRequest) -> Result<Enrollment, ApiError> {
    let conn = store.db();
    super::suggest::known_site(&conn, &req.site, "")?;
    if let Some(d) = &req.device {
        // A device behind a see-thru gateway has no Margo client of its own
        // (DIGEST §1, §15.4): the gateway's one client reports for it and is
        // served its deployments, so enrolling it issues nothing.
        if let Some((gateway, _)) = d.split_once('/')
            && DeviceId::is_valid(d)
        {
            return Err(ApiError::bad_request(format!(
                "device `{d}` is behind gateway `{gateway}` and has no Margo client of its own: the gateway's identity serves it (it reports the device's capabilities and status and is served its deployments); no identity was issued — enrol the gateway with `edgectl co enroll --site {} --device {gateway}`",
                req.site
            )));
        }
        if !DeviceId::is_valid(d) || !segment_ok(d) {
            return Err(ApiError::bad_request(format!(
                "device `{d}` cannot be enrolled: its id must be letters, digits and `._~-`"
            )));
        }
        match device(&conn, d)? {
            Some(dev) if dev.site == req.site => {}
            Some(dev) => {
                return Err(ApiError::not_found(format!(
                    "device `{d}` belongs to site `{}`, not `{}`",
                    dev.site, req.site
                )));
            }
            None => {
                return Err(super::suggest::no_device(
                    &conn,
                    d,
                    Some(&req.site),
                    "; add it with `edgectl co add device`",
                ));
            }
        }
    }
    if !segment_ok(&req.site) || req.site == "co" {
        return Err(ApiError::bad_request(format!(
            "site `{}` cannot be a SPIFFE path segment",
            req.site
        )));
    }
    if !req.names.is_empty() && req.device.is_some() {
        return Err(ApiError::bad_request(
            "`names` go into an LO's certificate, which serves; a device's only identifies it",
        ));
    }
    if let Some(why) = bad_name(&req.names) {
        return Err(ApiError::bad_request(why));
    }
    if req.direct && req.device.is_none() {
        return Err(ApiError::bad_request(
            "`direct` applies to a device, not to an LO",
        ));
    }
    // A device is the client of the WFM it attaches to: its site's LO, or the CO.
    let wfm = if req.direct { "co" } else { req.site.as_str() };
    let spiffe_id = store.ca().spiffe_id(wfm, req.device.as_deref());
    let days = if req.device.is_some() {
        DEVICE_DAYS
    } else {
        LO_DAYS
    };
    // An LO serves its site's devices; a device is only ever a client.
    let issued = store
        .ca()
        .issue(&spiffe_id, days, &req.names, req.device.is_none())?;
    // Enrolling again replaces the identity: its earlier certificates are
    // revoked in the same transaction, so a lost or copied one stops working.
    let tx = conn.unchecked_transaction()?;
    let replaced = db::revoke_spiffe_id(&tx, &issued.spiffe_id, &crate::clock::now())?;
    db::insert_identity(
        &tx,
        &IdentityRow {
            fingerprint: issued.fingerprint.clone(),
            spiffe_id: issued.spiffe_id.clone(),
            site: req.site.clone(),
            device: req.device.clone(),
            issued_at: crate::clock::now(),
            not_after: issued.not_after.clone(),
            revoked_at: None,
        },
    )?;
    tx.commit()?;
    drop(conn);
    // The site's LO learns the new issued list (and the revocations).
    store.changed(&req.site);
    tracing::info!(
        spiffe_id,
        fingerprint = issued.fingerprint,
        replaced,
        "identity issued"
    );
    Ok(Enrollment {
        spiffe_id: issued.spiffe_id,
        fingerprint: issued.fingerprint,
        not_after: issued.not_after,
        certificate: issued.cert_pem,
        private_key: issued.key_pem,
        ca_bundle: store.ca().cert_pem().to_owned(),
        south_url: store.south_url(),
    })
}

/// Revoke the identities of a site's LO (no device) or of a device; the next
/// request made with them fails. How many were revoked.
pub(crate) fn revoke(store: &Store, req: &RevokeRequest) -> Result<u64, ApiError> {
    let n = db::revoke(
        &store.db(),
        &req.site,
        req.device.as_deref(),
        &crate::clock::now(),
    )?;
    if n == 0 {
        let who = req.device.as_ref().map_or_else(
            || format!("the LO of site `{}`", req.site),
            |d| format!("device `{d}` at site `{}`", req.site),
        );
        return Err(ApiError::not_found(format!("no active identity of {who}")));
    }
    store.changed(&req.site);
    tracing::info!(
        site = req.site,
        device = req.device,
        revoked = n,
        "identities revoked"
    );
    Ok(n as u64)
}

/// The identity the CO issued for the caller's certificate, when it is
/// still valid and not revoked; 403 otherwise.
pub(crate) fn known_identity(store: &Store, caller: &Caller) -> Result<IdentityRow, ApiError> {
    let identity = db::identity(&store.db(), &caller.fingerprint)?.ok_or_else(|| {
        ApiError::not_authorized("this certificate is not one the CO issued to a known identity")
    })?;
    if caller.expired() || identity.not_after < crate::clock::now() {
        return Err(ApiError::not_authorized(format!(
            "the identity `{}` expired at {}; enrol again",
            identity.spiffe_id, identity.not_after
        )));
    }
    if let Some(at) = &identity.revoked_at {
        return Err(ApiError::not_authorized(format!(
            "the identity `{}` was revoked at {at}",
            identity.spiffe_id
        )));
    }
    Ok(identity)
}

/// The site whose unrevoked, unexpired LO the caller is; 403 otherwise.
pub(crate) fn lo_site(store: &Store, caller: &Caller) -> Result<String, ApiError> {
    let identity = known_identity(store, caller)?;
    if identity.device.is_some() {
        return Err(ApiError::not_authorized(format!(
            "`{}` is a device, not a Local Orchestrator",
            identity.spiffe_id
        )));
    }
    Ok(identity.site)
}

/// The device attached to the CO directly that the caller is (a client of
/// the CO itself, `…/margo/wfm/co/client/<device>` of our trust domain);
/// 403 otherwise.
pub(crate) fn direct_device(store: &Store, caller: &Caller) -> Result<String, ApiError> {
    let identity = known_identity(store, caller)?;
    let device = identity.device.clone().ok_or_else(|| {
        ApiError::not_authorized(format!("`{}` is not a device", identity.spiffe_id))
    })?;
    let p = caller.spiffe_id.as_deref().and_then(Principal::parse);
    match p {
        Some(p)
            if p.trust_domain == store.trust_domain()
                && p.wfm == "co"
                && p.client.as_deref() == Some(device.as_str()) => {}
        Some(p) if p.client.is_some() && p.wfm != "co" => {
            return Err(ApiError::not_authorized(format!(
                "device `{device}` is a client of the LO of site `{}`; to attach it to the CO, enrol it with `--direct`",
                p.wfm
            )));
        }
        _ => {
            return Err(ApiError::not_authorized(
                "the certificate's SPIFFE ID does not name this device as a client of the CO",
            ));
        }
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::bad_name;

    #[test]
    fn server_names_are_addresses_or_dns_names() {
        let v = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            bad_name(&v(&["127.0.0.1", "::1", "lo.plant-1.example", "lo"])),
            None
        );
        for bad in [
            "",
            "a..b",
            "-a",
            "a-",
            "a_b",
            "lo.example.",
            "a b",
            "*.example",
        ] {
            assert!(bad_name(&v(&[bad])).is_some(), "{bad}");
        }
        assert!(bad_name(&v(&[&"a".repeat(64)])).is_some());
        assert!(bad_name(&vec!["a".to_owned(); 17]).is_some());
    }
}
