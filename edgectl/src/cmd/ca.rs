//! `edgectl co ca show|stage|activate|retire`: the CO's trust anchors and
//! the steps of a CA rotation, through `GET /api/ca` and `POST /api/ca/{step}`.

use edge_api::Client;
use edge_api::routes::{self, fill};
use edge_api::types::{CaInfo, CaStep};

use crate::cli::CaCommand;
use crate::printer::Printer;

pub(crate) fn ca(client: &Client, printer: Printer, command: CaCommand) -> anyhow::Result<()> {
    let (step, force) = match command {
        CaCommand::Show => {
            let info: CaInfo = client.get(routes::CA)?;
            show(printer, &info);
            return Ok(());
        }
        CaCommand::Stage => ("stage", false),
        CaCommand::Activate { force } => ("activate", force),
        CaCommand::Retire { force, yes } => {
            if force {
                super::ask::confirm(
                    yes,
                    "Drop every retired CA from the trust bundle now? Identities they issued stop working.",
                )?;
            }
            ("retire", force)
        }
    };
    let info: CaInfo = client.post(&fill(routes::CA_STEP, step), &CaStep { force })?;
    let said = match step {
        "stage" => format!(
            "staged a new CA (bundle sequence {}); LOs and nodes take it within {} s, then `edgectl co ca activate`",
            info.sequence, info.refresh_seconds
        ),
        "activate" => format!(
            "the new CA signs from now on (bundle sequence {}); the former one stays trusted until its identities expire",
            info.sequence
        ),
        _ => format!(
            "dropped generation {} from the trust bundle (sequence {})",
            info.dropped
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            info.sequence
        ),
    };
    printer.line(&said);
    show(printer, &info);
    Ok(())
}

fn show(printer: Printer, info: &CaInfo) {
    let rows: Vec<Vec<String>> = info
        .anchors
        .iter()
        .map(|a| {
            vec![
                a.generation.to_string(),
                a.state.clone(),
                a.since.clone().unwrap_or_else(|| "-".into()),
                a.not_after.clone(),
                a.pin.clone(),
            ]
        })
        .collect();
    printer.table(&["GENERATION", "STATE", "SINCE", "EXPIRES", "PIN"], &rows);
    printer.data(info);
}
