use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};

use super::*;

fn ca(alg: &'static rcgen::SignatureAlgorithm) -> CertificateDer<'static> {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.self_signed(&key).unwrap().der().clone()
}

fn leaf() -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    let p = CertificateParams::new(vec!["leaf.example".into()]).unwrap();
    p.self_signed(&key).unwrap().der().clone()
}

fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn a_bundle_written_reads_back_with_every_anchor_and_is_canonical() {
    let anchors = vec![
        ca(&rcgen::PKCS_ECDSA_P256_SHA256),
        ca(&rcgen::PKCS_ECDSA_P384_SHA384),
        ca(&rcgen::PKCS_ED25519),
    ];
    let bytes = bundle_json(&anchors, 7, 3600).unwrap();
    assert_eq!(bytes, bundle_json(&anchors, 7, 3600).unwrap());
    let v = value(&bytes);
    assert_eq!(v["spiffe_sequence"], 7);
    assert_eq!(v["keys"][0]["kty"], "EC");
    assert_eq!(v["keys"][0]["crv"], "P-256");
    assert_eq!(v["keys"][1]["crv"], "P-384");
    assert_eq!(v["keys"][2]["kty"], "OKP");
    assert!(
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["use"] == "x509-svid")
    );
    let read = parse_bundle(&bytes).unwrap();
    assert_eq!(read.anchors, anchors);
    assert_eq!((read.sequence, read.refresh_hint), (Some(7), Some(3600)));
    assert_eq!(read.to_pem().matches("BEGIN CERTIFICATE").count(), 3);
}

#[test]
fn an_rsa_anchor_has_its_modulus_and_exponent() {
    let anchor = ca(&rcgen::PKCS_RSA_SHA256);
    let v = value(&bundle_json(std::slice::from_ref(&anchor), 1, 60).unwrap());
    assert_eq!(v["keys"][0]["kty"], "RSA");
    assert_eq!(v["keys"][0]["e"], "AQAB");
    assert_eq!(
        parse_bundle(&serde_json::to_vec(&v).unwrap())
            .unwrap()
            .anchors,
        [anchor]
    );
}

#[test]
fn unknown_members_and_other_keys_are_ignored() {
    let anchor = ca(&rcgen::PKCS_ECDSA_P256_SHA256);
    let mut v = value(&bundle_json(std::slice::from_ref(&anchor), 1, 60).unwrap());
    v["x-vendor-extensions"] = json!({"a": 1});
    v["keys"][0]["kid"] = json!("anchor-1");
    let keys = v["keys"].as_array_mut().unwrap();
    keys.insert(
        0,
        json!({"kty": "EC", "use": "jwt-svid", "crv": "P-256", "x": "AA", "y": "AA"}),
    );
    keys.push(json!("not even an object"));
    let read = parse_bundle(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(read.anchors, [anchor]);
}

#[test]
fn a_bundle_without_an_x509_anchor_is_refused() {
    for doc in [
        json!({"keys": []}),
        json!({"keys": [{"kty": "EC", "use": "jwt-svid", "crv": "P-256", "x": "AA", "y": "AA"}]}),
    ] {
        assert_eq!(
            parse_bundle(&serde_json::to_vec(&doc).unwrap()),
            Err(TrustError::NoAnchor)
        );
    }
    assert_eq!(parse_bundle(b"{}"), Err(TrustError::Missing("keys")));
    assert!(matches!(
        parse_bundle(b"[1]"),
        Err(TrustError::Malformed { .. })
    ));
    assert!(matches!(
        parse_bundle(b"not json"),
        Err(TrustError::Malformed { .. })
    ));
    let huge = vec![b' '; MAX_BUNDLE + 1];
    assert!(matches!(
        parse_bundle(&huge),
        Err(TrustError::Malformed { .. })
    ));
}

#[test]
fn an_x509_key_that_cannot_be_an_anchor_is_refused_naming_why() {
    let anchor = ca(&rcgen::PKCS_ECDSA_P256_SHA256);
    let good = value(&bundle_json(std::slice::from_ref(&anchor), 1, 60).unwrap());
    let detail = |v: &Value| match parse_bundle(&serde_json::to_vec(v).unwrap()) {
        Err(TrustError::BadKey { index: 0, detail }) => detail,
        other => panic!("{other:?}"),
    };
    // Two certificates in x5c.
    let mut v = good.clone();
    let c = v["keys"][0]["x5c"][0].clone();
    v["keys"][0]["x5c"] = json!([c.clone(), c]);
    assert!(detail(&v).contains("exactly one"));
    // Not base64.
    let mut v = good.clone();
    v["keys"][0]["x5c"] = json!(["%%%"]);
    assert!(detail(&v).contains("base64"));
    // A leaf, not a CA.
    let lv = value(&bundle_json(&[leaf()], 1, 60).unwrap());
    assert!(detail(&lv).contains("not a CA"));
    // The key members name another key than the certificate's.
    let other = value(&bundle_json(&[ca(&rcgen::PKCS_ECDSA_P256_SHA256)], 1, 60).unwrap());
    let mut v = good;
    v["keys"][0]["x"] = other["keys"][0]["x"].clone();
    assert!(detail(&v).contains("`x` is not the public key"));
}

#[test]
fn discovery_needs_an_https_bundle_uri_and_ignores_unknown_members() {
    let doc = discovery_json(
        "factory.example",
        "https://mis.example/.well-known/spiffe/bundle.json",
    );
    assert_eq!(
        parse_discovery(&doc).unwrap(),
        (
            "factory.example".to_owned(),
            "https://mis.example/.well-known/spiffe/bundle.json".to_owned()
        )
    );
    let extra = br#"{"trustDomain":"a","trustBundleUri":"https://b/x","future":[1]}"#;
    assert!(parse_discovery(extra).is_ok());
    let plain = br#"{"trustDomain":"a","trustBundleUri":"http://b/x"}"#;
    assert_eq!(
        parse_discovery(plain),
        Err(TrustError::NotHttps("http://b/x".into()))
    );
    assert_eq!(
        parse_discovery(br#"{"trustBundleUri":"https://b/x"}"#),
        Err(TrustError::Missing("trustDomain"))
    );
}
