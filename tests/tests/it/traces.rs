//! One `co deploy` is one trace across three processes: the CO, an LO and
//! an edge node each export their spans over OTLP/HTTP to a real receiving
//! end (`tests/otel/sink.py`), and the spans of the deploy, its commit, the
//! LO's sync and manifest, the node's apply and reports, the LO's status
//! intake and forward, and the CO's intake all share one trace id, each
//! with its parent in that trace. A client's `traceparent` is continued by
//! the CO's deploy, and a malformed one ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use edge_tests::en::En;
use edge_tests::fleet::{deploy_hello, fleet_with_env, wait_state};
use edge_tests::lo::Lo;
use edge_tests::otlp::{Sink, Span};
use edge_tests::wait::until_or;

/// The spans of trace `trace`, by span id.
fn of_trace(spans: &[Span], trace: &str) -> BTreeMap<String, Span> {
    spans
        .iter()
        .filter(|s| s.trace_id == trace)
        .map(|s| (s.span_id.clone(), s.clone()))
        .collect()
}

fn service(s: &Span) -> &str {
    s.resource.get("service.name").map_or("", String::as_str)
}

/// Whether some span named `name` from `service` has its parent among the
/// spans of `parent_service` named `parent_name`.
fn linked(
    trace: &BTreeMap<String, Span>,
    (service_name, name): (&str, &str),
    (parent_service, parent_name): (&str, &str),
) -> bool {
    trace.values().any(|s| {
        service(s) == service_name
            && s.name == name
            && trace
                .get(&s.parent_span_id)
                .is_some_and(|p| service(p) == parent_service && p.name == parent_name)
    })
}

#[test]
fn one_deploy_is_one_trace_across_the_co_the_lo_and_the_node() {
    let sink = Sink::start();
    // Spans leave each daemon every 200 ms instead of every 5 s.
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", sink.url.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ];
    let f = fleet_with_env(&[], &env);
    let lo = Lo::start_with_env(
        &f.lo_creds,
        &f.dir.path().join("lo"),
        &["--log-format", "json"],
        &env,
    );
    let en = En::start_with_env(
        &f.d1,
        &f.dir.path().join("en"),
        &lo.url,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", Path::new(&sink.url)),
            ("OTEL_BSP_SCHEDULE_DELAY", Path::new("200")),
        ],
    );
    let logs = || format!("{}\n{}\n{}", f.co.log(), lo.log(), en.log());
    let id = deploy_hello(&f.co, "edge-1");
    wait_state(&f.co, &id, "installed", logs);

    let deploy = until_or(
        "the CO's deploy span",
        || {
            sink.spans()
                .into_iter()
                .find(|s| service(s) == "edged-co" && s.name == "co.deploy")
        },
        logs,
    );
    // Started by the CO: edgectl sent no context.
    assert_eq!(deploy.parent_span_id, "", "{:?}", deploy.raw);
    let chain = [
        (("edged-co", "co.commit"), ("edged-co", "co.deploy")),
        (("edged-lo", "lo.sync"), ("edged-co", "co.commit")),
        (("edged-lo", "manifest.serve"), ("edged-lo", "lo.sync")),
        (("edged-en", "en.apply"), ("edged-lo", "manifest.serve")),
        (("edged-en", "en.report"), ("edged-en", "en.apply")),
        (("edged-lo", "lo.status"), ("edged-en", "en.report")),
        (("edged-lo", "lo.forward"), ("edged-lo", "lo.status")),
        (("edged-co", "co.intake"), ("edged-lo", "lo.forward")),
    ];
    let trace = until_or(
        "every hop of the deploy in its trace, each with its parent",
        || {
            let trace = of_trace(&sink.spans(), &deploy.trace_id);
            let complete = chain
                .iter()
                .all(|(child, parent)| linked(&trace, *child, *parent));
            // No span whose parent never arrives (all have ended by now).
            let whole = trace
                .values()
                .all(|s| s.parent_span_id.is_empty() || trace.contains_key(&s.parent_span_id));
            (complete && whole).then_some(trace)
        },
        || {
            let spans = sink.spans();
            let mine = of_trace(&spans, &deploy.trace_id);
            format!(
                "spans of the trace: {:#?}\n{}",
                mine.values()
                    .map(|s| (
                        service(s).to_owned(),
                        s.name.clone(),
                        s.span_id.clone(),
                        s.parent_span_id.clone()
                    ))
                    .collect::<Vec<_>>(),
                logs()
            )
        },
    );
    let services: BTreeSet<&str> = trace.values().map(service).collect();
    assert_eq!(
        services,
        BTreeSet::from(["edged-co", "edged-en", "edged-lo"]),
        "{services:?}"
    );
    // One root: the deploy.
    let roots: Vec<_> = trace
        .values()
        .filter(|s| s.parent_span_id.is_empty())
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(roots, ["co.deploy"]);
    // Each daemon says who it is.
    let lo_span = trace.values().find(|s| service(s) == "edged-lo").unwrap();
    assert_eq!(lo_span.resource["edged.site"], "plant-1");
    let en_span = trace.values().find(|s| service(s) == "edged-en").unwrap();
    assert_eq!(en_span.resource["edged.device"], "edge-1");
    // The LO's JSON log lines name the trace and span they are in.
    let named = format!("\"trace_id\":\"{}\"", deploy.trace_id);
    assert!(
        lo.log()
            .lines()
            .any(|l| l.starts_with('{') && l.contains(&named) && l.contains("\"span_id\":\"")),
        "{}",
        lo.log()
    );

    // A client's traceparent is continued by the deploy; a malformed one
    // is ignored: the request works, and the deploy starts a trace.
    let deploy_with = |traceparent: &str| {
        let r =
            f.co.http()
                .post(format!("{}/api/deployments", f.co.url))
                .bearer_auth(&f.co.token)
                .header("traceparent", traceparent)
                .json(&serde_json::json!({
                    "app": "hello-wasm", "site": "plant-1", "device": "edge-1", "dryRun": true
                }))
                .send()
                .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text());
    };
    let deploys = || -> Vec<Span> {
        sink.spans()
            .into_iter()
            .filter(|s| service(s) == "edged-co" && s.name == "co.deploy")
            .collect()
    };
    let bad_trace = "0af7651916cd43dd8448eb211c803190";
    deploy_with(&format!("00-{bad_trace}-0000000000000000-01"));
    until_or(
        "a second deploy span, a root",
        || {
            (deploys()
                .iter()
                .filter(|s| s.parent_span_id.is_empty())
                .count()
                == 2)
                .then_some(())
        },
        logs,
    );
    assert!(deploys().iter().all(|s| s.trace_id != bad_trace));
    deploy_with("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    until_or(
        "the deploy span in the client's trace",
        || {
            deploys()
                .iter()
                .any(|s| {
                    s.trace_id == "0af7651916cd43dd8448eb211c80319c"
                        && s.parent_span_id == "b7ad6b7169203331"
                })
                .then_some(())
        },
        logs,
    );
}
