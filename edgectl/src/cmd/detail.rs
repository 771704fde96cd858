//! `edgectl co show deployment ID`: one deployment in detail — app,
//! version, profile, name, place, the state its device last reported (and
//! its error), commit, creation time and parameter values — for people; its
//! whole answer, ApplicationDeployment included, with `-o json` or `-o yaml`.

use edge_api::routes::{self, fill};
use edge_api::types::DeploymentDetail;
use edge_api::{Client, ClientError};

use crate::printer::Printer;

/// Show the deployment `id` names (whole, or a unique start of it).
pub(crate) fn deployment(client: &Client, printer: Printer, id: &str) -> Result<(), ClientError> {
    let d: DeploymentDetail = client.get(&fill(routes::DEPLOYMENT, id))?;
    printer.data(&d);
    if printer.is_human() {
        printer.line(&lines(&d).join("\n"));
    }
    Ok(())
}

/// The human view of `d`.
fn lines(d: &DeploymentDetail) -> Vec<String> {
    let s = &d.summary;
    let at = s
        .state_at
        .as_deref()
        .map_or_else(String::new, |t| format!(" (reported {t})"));
    let state = match &s.state {
        // Its last change has not reached the device yet.
        Some(st) if s.stale => format!("updating (was {st}){at}"),
        Some(st) => format!("{st}{at}"),
        None => "not reported yet".to_owned(),
    };
    let mut out = vec![
        format!("deployment: {}", s.id),
        format!("app:        {}", s.app),
        format!("version:    {}", s.version),
        format!("profile:    {}", s.profile),
        format!("name:       {}", s.name.as_deref().unwrap_or("-")),
        format!("site:       {}", s.site),
        format!("device:     {}", s.device),
        format!("state:      {state}"),
    ];
    if let Some(e) = &s.error {
        out.push(format!("error:      {e}"));
    }
    out.push(format!(
        "commit:     {}",
        &s.commit[..s.commit.len().min(12)]
    ));
    out.push(format!("created:    {}", s.created_at));
    if d.parameters.is_empty() {
        out.push("parameters: none".to_owned());
    } else {
        out.push("parameters:".to_owned());
        for (name, value) in &d.parameters {
            let set = if d.set.contains_key(name) {
                "  (set)"
            } else {
                ""
            };
            out.push(format!("  {name} = {value}{set}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use edge_api::types::{DeploymentDetail, DeploymentSummary};

    fn detail() -> DeploymentDetail {
        DeploymentDetail {
            summary: DeploymentSummary {
                id: "3f2a0000-1".into(),
                app: "hello-wasm".into(),
                version: "1.0.0".into(),
                site: "plant-1".into(),
                device: "edge-1".into(),
                profile: "wasm".into(),
                commit: "0123456789abcdef".into(),
                created_at: "2026-01-02T03:04:05Z".into(),
                name: None,
                change: None,
                changes: Vec::new(),
                state: Some("failed".into()),
                state_at: Some("2026-01-02T03:05:00Z".into()),
                error: Some("hello: it crashed".into()),
                rollout: None,
                wave: None,
                stale: false,
            },
            document: serde_json::json!({}),
            parameters: [
                ("greeting".to_owned(), serde_json::json!("hi")),
                ("count".to_owned(), serde_json::json!(3)),
            ]
            .into(),
            set: [("greeting".to_owned(), "hi".to_owned())].into(),
        }
    }

    #[test]
    fn people_see_the_state_its_error_and_which_values_were_set() {
        let text = super::lines(&detail()).join("\n");
        for want in [
            "deployment: 3f2a0000-1",
            "state:      failed (reported 2026-01-02T03:05:00Z)",
            "error:      hello: it crashed",
            "commit:     0123456789ab\n",
            "name:       -",
            "  count = 3\n  greeting = \"hi\"  (set)",
        ] {
            assert!(text.contains(want), "want `{want}` in:\n{text}");
        }
        let mut quiet = detail();
        quiet.summary.state = None;
        quiet.summary.error = None;
        quiet.parameters.clear();
        let text = super::lines(&quiet).join("\n");
        assert!(text.contains("state:      not reported yet"), "{text}");
        assert!(text.contains("parameters: none") && !text.contains("error:"));
    }
}
