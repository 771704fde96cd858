//! `edgectl package push`: publish a package folder as a Margo package OCI
//! artifact, so a CO (this one or any Margo fleet manager) can pull it.

use std::process::ExitCode;

use anyhow::Context as _;
use edge_workspace::oci::{Registries, push_package};

use crate::cli::PackageCommand;
use crate::printer::Printer;

/// Run one `package` command.
pub(crate) fn package(command: PackageCommand, printer: Printer) -> anyhow::Result<ExitCode> {
    match command {
        PackageCommand::Push {
            dir,
            to,
            insecure_registry,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the network runtime")?;
            let registries = Registries {
                insecure: insecure_registry,
                ..Registries::default()
            };
            printer.warn_progress(&format!("pushing `{}` to `{to}`…", dir.display()));
            let digest = runtime.block_on(push_package(&dir, &to, &registries))?;
            printer.line(&format!("pushed `{}` to `{to}` ({digest})", dir.display()));
            printer.data(&serde_json::json!({ "reference": to, "digest": digest }));
            Ok(ExitCode::SUCCESS)
        }
    }
}
