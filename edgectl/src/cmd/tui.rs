//! `edgectl tui`: the live terminal UI (crate `edge-tui`) over this CO's
//! north API and, for workload logs, the operations socket of an edge node
//! on this host. This file is the `Backend` the TUI sees; the TUI itself
//! never touches the network or files.

use std::path::PathBuf;
use std::sync::Arc;

use edge_api::node::{LogChunk, NodeStatus, OpsClient};
use edge_api::routes::{self, fill, fill_all};
use edge_api::types::{
    AppDetail, AppSummary, DeployRequest, DeploymentSummary, Device, Event, Rollout, Site,
};
use edge_api::{Client, ClientError};
use edge_tui::{Backend, LocalNode, LogPiece, RolloutAction, Snapshot};

/// The TUI's view of the world: the CO, and maybe an edge node here.
struct Live {
    client: Client,
    node: Option<PathBuf>,
}

fn say(e: &ClientError) -> String {
    e.to_string()
}

impl Backend for Live {
    fn snapshot(&self) -> Result<Snapshot, String> {
        Ok(Snapshot {
            sites: self
                .client
                .get::<Vec<Site>>(routes::SITES)
                .map_err(|e| say(&e))?,
            devices: self
                .client
                .get::<Vec<Device>>(routes::DEVICES)
                .map_err(|e| say(&e))?,
            deployments: self
                .client
                .get::<Vec<DeploymentSummary>>(routes::DEPLOYMENTS)
                .map_err(|e| say(&e))?,
            apps: self
                .client
                .get::<Vec<AppSummary>>(routes::APPS)
                .map_err(|e| say(&e))?,
        })
    }

    fn app(&self, id: &str) -> Result<AppDetail, String> {
        self.client.get(&fill(routes::APP, id)).map_err(|e| say(&e))
    }

    fn deploy(&self, request: &DeployRequest) -> Result<Vec<DeploymentSummary>, String> {
        self.client
            .post(routes::DEPLOYMENTS, request)
            .map_err(|e| say(&e))
    }

    fn undeploy(&self, deployment: &str) -> Result<(), String> {
        self.client
            .delete(&fill(routes::DEPLOYMENT, deployment))
            .map_err(|e| say(&e))
    }

    fn rollouts(&self, limit: usize) -> Result<Vec<Rollout>, String> {
        self.client
            .get(&format!("{}?limit={limit}", routes::ROLLOUTS))
            .map_err(|e| say(&e))
    }

    fn rollout(&self, id: &str) -> Result<Rollout, String> {
        self.client
            .get(&fill(routes::ROLLOUT, id))
            .map_err(|e| say(&e))
    }

    fn rollout_action(&self, id: &str, action: RolloutAction) -> Result<Rollout, String> {
        let path = fill_all(routes::ROLLOUT_ACTION, &[id, action.as_str()]);
        self.client
            .post(&path, &serde_json::json!({}))
            .map_err(|e| say(&e))
    }

    /// The node whose data folder `--en-data` named, as it says who it is.
    fn local_node(&self) -> LocalNode {
        let Some(dir) = &self.node else {
            return LocalNode::Unnamed;
        };
        match OpsClient::new(&dir.join("en.sock")).get::<NodeStatus>("/v1/node") {
            Ok(status) => LocalNode::Device(status.device),
            Err(e) => LocalNode::Unreachable(format!("{:#}", anyhow::Error::new(e))),
        }
    }

    /// `from` 0 reads the log's tail (the node sends at most its last
    /// 256 KiB); later calls follow from the offset given back.
    fn logs(&self, deployment: &str, from: u64) -> Result<LogPiece, String> {
        let Some(dir) = &self.node else {
            return Err(
                "no edge node on this host was named: start the TUI with `--en-data DIR` (the node's data folder)"
                    .to_owned(),
            );
        };
        let ops = OpsClient::new(&dir.join("en.sock"));
        let base = format!("/v1/workloads/{}/logs", routes::encode(deployment));
        let target = if from == 0 {
            base
        } else {
            format!("{base}?offset={from}")
        };
        let chunk: LogChunk = ops
            .get(&target)
            .map_err(|e| format!("{:#}", anyhow::Error::new(e)))?;
        Ok(LogPiece {
            text: chunk.text,
            next: chunk.next,
        })
    }

    /// `from` 0 reads the log's end (the node sends at most its last
    /// 64 KiB); later calls follow from the offset given back.
    fn remote_logs(&self, deployment: &str, from: u64) -> Result<LogPiece, String> {
        let base = fill(routes::DEPLOYMENT_LOGS, deployment);
        let target = if from == 0 {
            base
        } else {
            format!("{base}?offset={from}")
        };
        let chunk: LogChunk = self.client.get(&target).map_err(|e| say(&e))?;
        Ok(LogPiece {
            text: chunk.text,
            next: chunk.next,
        })
    }

    fn events(
        &self,
        after: Option<u64>,
        sink: &mut dyn FnMut(Event) -> bool,
    ) -> Result<(), String> {
        for event in self.client.events(after).map_err(|e| say(&e))? {
            if !sink(event.map_err(|e| say(&e))?) {
                return Ok(());
            }
        }
        Err("the event stream ended".to_owned())
    }
}

/// Run the TUI until the user quits.
pub(crate) fn tui(client: Client, en_data: Option<PathBuf>) -> anyhow::Result<()> {
    if !super::ask::interactive() {
        anyhow::bail!(
            "`edgectl tui` needs a terminal; for scripts use `edgectl co watch -o json` or `edgectl co list deployments -o json`"
        );
    }
    // Fail early, before the screen is taken over, when the CO is not there.
    let _: edge_api::types::ServerStatus = client.get(routes::STATUS)?;
    let backend = Arc::new(Live {
        client,
        node: en_data,
    });
    edge_tui::run(backend)?;
    Ok(())
}
