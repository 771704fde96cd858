//! The command line, declared once with clap. Commands receive plain values,
//! never clap types beyond their own argument structs.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

mod ca;
mod config;
mod deploy;
mod remote;
mod rollout;
mod since;

pub(crate) use ca::CaCommand;
pub(crate) use config::ConfigCommand;
pub(crate) use deploy::{Choice, DeployArgs, SetArgs, UndeployArgs, UpgradeArgs, WaitArgs};
pub(crate) use remote::{RemoteLogsArgs, RestartArgs};
pub(crate) use rollout::{RolloutArgs, RolloutCommand};

/// Orchestrate Margo edge workloads: app store, deployments, live status.
///
/// edgectl talks to an `edged` central orchestrator (CO), or works on files
/// directly. Start by checking an application package:
///
///   edgectl validate ./my-app
#[derive(Debug, Parser)]
#[command(name = "edgectl", version, max_term_width = 100)]
pub struct Cli {
    /// Output format: `table` for people (`wide`: with more columns), `json`
    /// or `yaml` for scripts.
    #[arg(short = 'o', long, global = true, help_heading = "Global options", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Central orchestrator URL [default: the one saved by `edgectl login`].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "EDGE_SERVER",
        value_name = "URL"
    )]
    pub server: Option<String>,

    /// Read the API token from this file (mode 0600 recommended) [default:
    /// `EDGE_TOKEN` if set, else the token saved by `edgectl login`].
    ///
    /// Tokens are never taken as a command-line value: those show in
    /// process listings.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub token_file: Option<PathBuf>,

    /// Also trust this CA certificate (PEM) for the server's TLS: the CO's
    /// `DATA/ca/ca.crt` when it issued its own north certificate [default:
    /// the one saved by `edgectl login`, and the system's].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "EDGE_CA",
        value_name = "FILE"
    )]
    pub ca_file: Option<PathBuf>,

    /// Use this saved login (see `edgectl config get-contexts`) instead of
    /// the current one; with `login`, the name to save it under [default:
    /// the server's host and port].
    #[arg(long, global = true, help_heading = "Global options", env = "EDGE_CONTEXT", value_name = "NAME", add = crate::complete::contexts())]
    pub context: Option<String>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines and tables for people.
    Table,
    /// Tables with every column (`co list`); otherwise as `table`.
    Wide,
    /// Stable JSON for scripts.
    Json,
    /// The same structure as JSON, in YAML.
    Yaml,
}

/// edgectl commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check Margo documents and application packages.
    ///
    /// Each PATH is a document (YAML or JSON: ApplicationDescription,
    /// ApplicationDeployment, DesiredStateManifest, DeploymentStatusManifest,
    /// DeviceCapabilitiesManifest, ProblemDetail; the kind is detected), an
    /// application package (a folder with `margo.yaml` and `resources/`), or a
    /// folder of documents, checked recursively.
    ///
    /// Every problem is printed as `FILE: field.path: message`. Exit status 0
    /// when everything is valid, 1 when anything is not, 2 on usage errors.
    ///
    /// Examples:
    ///
    ///   edgectl validate ./hello-app
    ///
    ///   edgectl validate deployment.yaml capabilities.json -o json
    Validate(ValidateArgs),

    /// Work with a central orchestrator: app store, sites, devices.
    #[command(subcommand)]
    Co(Box<CoCommand>),

    /// Operate the edge node on this host: what runs, logs, stop and start.
    ///
    /// Talks to `edged --mode en` over its socket (`DATA/en.sock`, owner
    /// only); run it as the node's user. WORKLOAD is a deployment name from
    /// `edgectl en list`, a deployment id (or a unique start of one) or an app id, followed by
    /// `/COMPONENT` when the deployment has several.
    ///
    /// Examples:
    ///
    ///   edgectl en list --data ./en-data
    ///
    ///   edgectl en logs hello-wasm --follow
    En(EnArgs),

    /// Work with a Local Orchestrator's data folder on this host: take in a
    /// site written to a USB stick by `edgectl co export`.
    #[command(subcommand)]
    Lo(LoCommand),

    /// Work with application packages.
    #[command(subcommand)]
    Package(PackageCommand),

    /// A live terminal UI: sites, devices, deployments and apps, with states
    /// as the CO reports them; deploy and undeploy; a workload's log.
    ///
    /// Keys are listed on `?`; `q` quits. A workload's log is read from the
    /// edge node on this host when it runs it (named by its data folder),
    /// else from its device through the CO and the site's LO (as `co logs`).
    ///
    /// Example: `edgectl tui --en-data ./demo/en`
    Tui {
        /// An edge node's data folder on this host (its socket `DIR/en.sock`), for workload logs.
        #[arg(long, value_name = "DIR")]
        en_data: Option<PathBuf>,
    },

    /// Save the server URL and its token for later commands.
    ///
    /// The token is the content of `admin.token` in the CO's data directory,
    /// or one made by `edgectl co token create`. It is kept in the kernel
    /// keyring, or in a 0600 file when no keyring is usable. It is read from
    /// `--token-file`, else `EDGE_TOKEN`, else standard input.
    ///
    /// With `--ca-file`, the CA certificate is saved too, for later commands.
    ///
    /// The login is saved as a context, named after the server's host and
    /// port unless `--context NAME` names it, and becomes the current one;
    /// `edgectl config use-context` switches between saved logins.
    ///
    /// Example: `edgectl login --server https://127.0.0.1:7070 --ca-file co-data/ca/ca.crt < co-data/admin.token`
    Login,

    /// Forget a saved login: its token, its CA certificate and its context
    /// [default: the current one].
    ///
    /// Example: `edgectl logout --context plant-1`
    Logout,

    /// Work with the saved logins (contexts), one per orchestrator.
    ///
    /// Examples:
    ///
    ///   edgectl config get-contexts
    ///
    ///   edgectl config use-context plant-1
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Print edgectl's version and that of the server it talks to.
    ///
    /// Exit status 1 when a server is configured but does not answer.
    Version {
        /// Only edgectl's own version; do not ask the server.
        #[arg(long)]
        client: bool,
    },

    /// Print a shell completion script: commands, flags, and live names
    /// (apps, sites, devices, deployment ids) asked of the CO of the current
    /// login as you press Tab (within 100 ms, or none are offered).
    ///
    /// The script asks `edgectl` itself, so it stays right after an upgrade.
    ///
    /// Examples:
    ///
    ///   mkdir -p ~/.local/share/bash-completion/completions && edgectl completions bash > ~/.local/share/bash-completion/completions/edgectl
    ///
    ///   echo 'source <(edgectl completions zsh)' >> ~/.zshrc
    ///
    ///   edgectl completions fish > ~/.config/fish/completions/edgectl.fish
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Arguments of `edgectl en`.
#[derive(Debug, clap::Args)]
pub struct EnArgs {
    /// The node's data directory (its socket is `DIR/en.sock`).
    #[arg(
        long,
        global = true,
        env = "EDGED_DATA",
        value_name = "DIR",
        default_value = "edged-data"
    )]
    pub data: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: EnCommand,
}

/// `edgectl en …` commands.
#[derive(Debug, Subcommand)]
pub enum EnCommand {
    /// The node and its workloads: desired and running version, state,
    /// restarts, last error, and when the fleet manager was last heard from.
    List,
    /// Start a workload an operator stopped.
    Start {
        /// The workload.
        workload: String,
    },
    /// Stop a workload (gracefully, then killed); it stays stopped, and is
    /// reported `failed` (STOPPED) upward, until started again or the node restarts.
    Stop {
        /// The workload.
        workload: String,
    },
    /// Stop a workload and start it again.
    Restart {
        /// The workload.
        workload: String,
    },
    /// Print a workload's output (stdout and stderr): its last 256 KiB, or
    /// what `--tail` and `--since` choose (both at once: the last N of the
    /// lines written since).
    ///
    /// The lines carry no times of their own: the node notes every second
    /// how long the log is, so `--since` is precise to about a second and
    /// may show a line written just before, never miss one written after.
    /// What a log held when the node started watching it counts as written
    /// at the log's last change before then.
    ///
    /// Examples:
    ///
    ///   edgectl en logs hello-wasm --tail 20 --follow
    ///
    ///   edgectl en logs hello-process --since 10m
    Logs {
        /// The workload.
        workload: String,
        /// Keep printing what it writes until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines (looked for in the log's last 32 MiB).
        #[arg(short = 'n', long, value_name = "N")]
        tail: Option<usize>,
        /// Only the lines written since DURATION ago (`90s`, `5m`, `1h`,
        /// `2d`) or since TIME (RFC 3339, `2026-05-01T10:00:00Z`).
        #[arg(long, value_name = "DURATION|TIME", value_parser = since::parse)]
        since: Option<i64>,
    },
    /// Memory, CPU time, restarts and log size of a workload.
    Metrics {
        /// The workload.
        workload: String,
    },
}

/// Arguments of `edgectl validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Documents, package folders or folders of documents.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Do not print notes (extensions used, older Margo forms converted).
    #[arg(short, long)]
    pub quiet: bool,
}

/// `edgectl co …` commands.
#[derive(Debug, Subcommand)]
pub enum CoCommand {
    /// Server version, counts and health.
    Status,
    /// Add an app, a site or a device.
    #[command(subcommand)]
    Add(AddCommand),
    /// List apps, sites or devices.
    List(ListArgs),
    /// Show one app, site, device or deployment.
    ///
    /// Examples:
    ///
    ///   edgectl co show app hello-wasm
    ///
    ///   edgectl co show deployment 3f2a -o yaml
    Show(ShowArgs),
    /// Remove an app (or one of its versions), a site or a device.
    #[command(subcommand)]
    Remove(RemoveCommand),
    /// Set or remove labels of a site or device (`key=value` sets, `key-` removes).
    #[command(subcommand)]
    Label(LabelCommand),
    /// Deploy an app to devices of a site (one commit to the site's desired state).
    ///
    /// Without `--device` or `--selector`, every device of the site that fits
    /// the profile's constraints gets the app. Values given with `--set` are
    /// checked against the app's configuration schema; every problem is listed
    /// and nothing is deployed while any remains.
    ///
    /// Examples:
    ///
    ///   edgectl co deploy --app hello-wasm --site plant-1
    ///
    ///   edgectl co deploy --app "Digitron orchestrator" --site plant-1 --selector zone=a --set pollFrequency=60
    ///
    /// A device runs at most one deployment of an app unless they are given
    /// names (`--name`): deploying an app where it already runs updates that
    /// deployment in place (new version, values or profile), keeping its id;
    /// deploying the same thing again changes nothing and makes no commit.
    /// `--dry-run` prints what would change and changes nothing.
    Deploy(DeployArgs),
    /// Change parameter values of running deployments in place; the values
    /// not named keep theirs, and each deployment keeps its id.
    ///
    /// Name the deployments by id (or a unique start of one, as with git
    /// commits), or by app and site. Each site's changes are one commit.
    ///
    /// Examples:
    ///
    ///   edgectl co set 3f2a greeting=hello
    ///
    ///   edgectl co set --app hello-wasm --site plant-1 --selector line=2 greeting=hello --wait
    Set(SetArgs),
    /// Move deployments of an app to another version (the newest by
    /// default), in place: each keeps its id, profile type and the values
    /// set for it, checked against the new version's schema first.
    ///
    /// Examples:
    ///
    ///   edgectl co upgrade --app hello-wasm --site plant-1
    ///
    ///   edgectl co upgrade --app hello-wasm --to-version 1.2.0 --all-sites --dry-run
    Upgrade(UpgradeArgs),
    /// Make the fleet's deployments match the desired ones in files: create,
    /// update in place, and with `--prune` remove what an earlier apply made
    /// that the files no longer name. Applying the same files again changes
    /// nothing and makes no commit.
    ///
    /// A file lists deployments (see `edgectl co diff --help` for an example);
    /// every problem in every file is listed, with its file and field, and
    /// nothing changes while any remains.
    ///
    /// Examples:
    ///
    ///   edgectl co apply -f fleet/
    ///
    ///   edgectl co apply -f fleet/ --prune --dry-run
    Apply {
        /// A file, or a folder of `.yaml`/`.yml`/`.json` files (repeatable).
        #[arg(short = 'f', long = "file", value_name = "PATH", required = true)]
        files: Vec<PathBuf>,
        /// Also remove deployments made by an earlier apply that no file names.
        #[arg(long)]
        prune: bool,
        /// Print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also place on devices that have not reported their capabilities
        /// yet, unchecked.
        #[arg(long)]
        allow_unreported: bool,
        #[command(flatten)]
        rollout: RolloutArgs,
    },
    /// Print what `co apply` of these files would change (`+` create, `~`
    /// update with what changes, `-` remove with `--prune`); change nothing.
    ///
    /// A file of desired deployments:
    ///
    ///   apiVersion: edgectl.io/v1
    ///   kind: Deployments
    ///   deployments:
    ///     - app: hello-wasm             # id or display name
    ///       site: plant-1
    ///       version: 1.1.0              # default: the newest
    ///       devices: [edge-1, edge-2]   # or selector: {line: "2"}; neither: every device that fits
    ///       name: line-2                # optional: more than one of the app on a device
    ///       profile: wasm               # default: the app's first
    ///       parameters: {greeting: hi}
    ///
    /// Example: `edgectl co diff -f fleet/ --prune`
    Diff {
        /// A file, or a folder of `.yaml`/`.yml`/`.json` files (repeatable).
        #[arg(short = 'f', long = "file", value_name = "PATH", required = true)]
        files: Vec<PathBuf>,
        /// Also show what `--prune` would remove.
        #[arg(long)]
        prune: bool,
        /// Also place on devices that have not reported their capabilities
        /// yet, as `co apply --allow-unreported` would.
        #[arg(long)]
        allow_unreported: bool,
    },
    /// Remove deployments from their site's desired state (a new commit).
    ///
    /// Name one deployment by its id, or every deployment of an app at a site
    /// (optionally on one device). On a terminal it asks first (`--yes` skips
    /// the question) and, given nothing, offers the deployments to pick from.
    ///
    /// Examples:
    ///
    ///   edgectl co undeploy 3f2a…
    ///
    ///   edgectl co undeploy --app hello-wasm --site plant-1 --wait
    Undeploy(UndeployArgs),
    /// Follow and steer rollouts: changes of many devices going out in
    /// waves (`--waves`, `--batch` on deploy, set, upgrade and apply).
    ///
    /// Each wave waits until its devices report the new version installed
    /// (or its time runs out); past the failure budget (`--max-failures`)
    /// the rollout pauses, or with `--auto-rollback` puts the previous
    /// deployments back. A rollout survives a restart of the CO.
    ///
    /// Examples:
    ///
    ///   edgectl co upgrade --app hello-wasm --all-sites --waves 1,10%,100% --auto-rollback
    ///
    ///   edgectl co rollout status 7 --wait
    ///
    ///   edgectl co rollout undo 7
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// The CA that issues every identity, and its rotation in three steps
    /// with time between them: stage (trusted, not signing), activate
    /// (signing; the former CA still trusted), retire (once the identities it
    /// issued are gone).
    ///
    /// Examples:
    ///
    ///   edgectl co ca show
    ///
    ///   edgectl co ca stage; sleep 3600; edgectl co ca activate
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue an identity for a site's Local Orchestrator or for a device, and
    /// write its credentials folder.
    ///
    /// The folder holds `identity.crt`, `identity.key` (mode 0600: a secret),
    /// `ca.crt` and `edged.toml` naming the CO. Carry it to the machine over a
    /// protected channel.
    ///
    /// Examples:
    ///
    ///   edgectl co enroll --site plant-1 --lo --out ./plant-1-lo
    ///
    /// An LO whose registry podman or skopeo pulls from names its host:
    ///
    ///   edgectl co enroll --site plant-1 --lo --name lo.plant-1.example --out ./plant-1-lo
    ///
    ///   edgectl co enroll --site plant-1 --device edge-1 --out ./edge-1
    ///
    /// A node of a site without an LO attaches to the CO itself:
    ///
    ///   edgectl co enroll --site plant-2 --device edge-9 --direct --out ./edge-9
    Enroll(IdentityArgs),
    /// Revoke the identities of a site's LO or of a device: their next request fails.
    Revoke(RevokeArgs),
    /// Create, list and revoke API tokens with a scope (admin scope needed).
    ///
    /// Scopes: `read` (every read), `deploy` (reads, deploy, undeploy,
    /// roll back, labels, sticks), `admin` (everything). The CO keeps only a
    /// hash; the token is printed once, when it is made.
    ///
    /// Examples:
    ///
    ///   edgectl co token create ci --scope deploy > ci.token
    ///
    ///   edgectl co token revoke ci
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit log: every change asked of the CO and every refused request
    /// (who, what, when, from where), oldest first (admin scope needed).
    ///
    /// Example: `edgectl co audit --limit 20`
    Audit {
        /// Show at most this many entries, the newest (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only entries after this position (the `seq` of an earlier entry).
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
    },
    /// Restore a site's desired state of an earlier commit, as a new commit.
    ///
    /// First it prints what will change, deployment by deployment (created,
    /// updated with what changes, removed; a deployment whose app version is
    /// no longer in the store is skipped, left as it is), then asks on a
    /// terminal.
    ///
    /// Example: `edgectl co rollback --site plant-1 --to 35a439b6`
    Rollback {
        /// The site.
        #[arg(long, add = crate::complete::sites())]
        site: String,
        /// The commit to go back to (see `edgectl co history`): its id, a
        /// unique start of it, or `HEAD~N` (N commits back).
        #[arg(long, value_name = "COMMIT")]
        to: String,
        /// Print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// Print changes at the CO as they happen: deployments, reported status,
    /// devices, sites and apps, one line each (JSON lines with `-o json`).
    ///
    /// Runs until interrupted; a lost connection is resumed where it broke
    /// (`Last-Event-ID`), so no event is printed twice or missed. When the CO
    /// stops it ends the stream: the watch exits 1, naming the id to go on
    /// from with `--since` (ids keep growing across restarts of the CO).
    ///
    /// Examples:
    ///
    ///   edgectl co watch
    ///
    ///   edgectl co watch --site plant-1 -o json | jq .
    Watch {
        /// Only events of this site (and rollouts', which span sites); an
        /// unknown site is refused, naming the sites there are.
        #[arg(long, add = crate::complete::sites())]
        site: Option<String>,
        /// Start after this event id (as printed with `-o json`) instead of now.
        #[arg(long, value_name = "ID")]
        since: Option<u64>,
    },
    /// Write a site onto a USB stick (or any folder) for a site with no network.
    ///
    /// The folder gets the site's desired state as a bare Git repository
    /// (`site.git`), every artifact its deployments name as an OCI image
    /// layout (`oci/`), and `stick.json` listing it all by digest. Writing to
    /// the same folder again adds only what changed. Take it in at the site
    /// with `edgectl lo import DIR --data LO_DATA` (or `edged --mode lo
    /// --import DIR`).
    ///
    /// Example: `edgectl co export --site plant-1 --to /media/usb/plant-1`
    Export(ExportArgs),
    /// Take in the status a site stick carries back (`edgectl lo
    /// export-status`); taking the same stick in twice changes nothing.
    ///
    /// Example: `edgectl co import-status /media/usb/plant-1`
    ImportStatus {
        /// The stick folder.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print a deployment's workload output from its device, wherever it is:
    /// asked through the site's LO, which the node polls (no connection is
    /// made to the node). `--tail`, `--since` and `--follow` as for
    /// `edgectl en logs`.
    ///
    /// Exit status 3 when the device cannot be reached (the message names
    /// the hop: the site's LO or the device), 4 when there is nothing to
    /// read (no such deployment or component, not placed on its device yet,
    /// no log).
    ///
    /// Examples:
    ///
    ///   edgectl co logs 3f2a --tail 20 --follow
    ///
    ///   edgectl co logs 3f2a --component api --since 10m
    Logs(RemoteLogsArgs),
    /// Restart a deployment's workload on its device, through the site's LO
    /// (needs a token of scope `deploy`; audited). Exit status as for
    /// `co logs`.
    ///
    /// Examples:
    ///
    ///   edgectl co restart 3f2a
    Restart(RestartArgs),
    /// The commits of a site's desired state, newest first.
    History {
        /// The site.
        #[arg(long, add = crate::complete::sites())]
        site: String,
        /// Most commits to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// `edgectl lo …`.
#[derive(Debug, Subcommand)]
pub enum LoCommand {
    /// Take a site stick into an LO's data folder, with no network.
    ///
    /// Everything on the stick is checked before anything changes: it must
    /// be for the LO's site and signed by the CO's CA (the one in the LO's
    /// credentials), every artifact must match its digest, every Git object
    /// its id, and the history must continue what the LO has (an older stick
    /// or a rewritten history is refused). The revocations it carries are
    /// applied. The LO may be running: it serves the new state within its
    /// poll interval.
    ///
    /// Example: `edgectl lo import /media/usb/plant-1 --data ./site-data`
    Import {
        /// The stick folder written by `edgectl co export`.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The LO's data folder.
        #[arg(long, value_name = "LO_DATA")]
        data: PathBuf,
        /// The LO's credentials folder (its `ca.crt` and site); by default
        /// those the LO recorded in its data folder when it started.
        #[arg(long, value_name = "DIR")]
        credentials: Option<PathBuf>,
    },
    /// Write the status and capabilities the site has not yet handed to the
    /// CO onto a stick, for `edgectl co import-status` at the CO.
    ///
    /// Everything not acknowledged by the CO is written, every time: a stick
    /// may be lost, and the CO takes each report once however often it
    /// arrives. The LO may be running.
    ///
    /// Example: `edgectl lo export-status --data ./site-data --to /media/usb/plant-1`
    ExportStatus {
        /// The LO's data folder.
        #[arg(long, value_name = "LO_DATA")]
        data: PathBuf,
        /// The stick folder.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
}

/// Arguments of `edgectl co export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The site.
    #[arg(long, add = crate::complete::sites())]
    pub site: String,
    /// The folder to write (made when missing; an earlier export there is brought up to date).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Also enrol the site's LO and put its credentials (a private key) on the stick.
    #[arg(long)]
    pub with_credentials: bool,
    /// Leave out the container images the CO cannot pull (a warning names
    /// each; the site then needs their registry) instead of failing.
    #[arg(long)]
    pub skip_images: bool,
}

/// `90s`, `5m`, `1h`, or a number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, ""), |i| t.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write 90s, 5m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{text}` is not a duration; write 90s, 5m or 1h")),
    };
    if secs == 0 {
        return Err("the timeout must be longer than 0s".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// What to add.
#[derive(Debug, Subcommand)]
pub enum AddCommand {
    /// Add an application package to the app store.
    ///
    /// SRC is a package folder (with `margo.yaml`), a Git URL
    /// (`https://host/repo.git`, the package at its root or in the folder
    /// given by `--name`), or an OCI reference to a Margo package artifact
    /// (`oci://registry/repo:tag`).
    ///
    /// Examples:
    ///
    ///   edgectl co add app --artifact ./hello-wasm
    ///
    ///   edgectl co add app --artifact https://git.example.com/apps.git --name digitron
    ///
    ///   edgectl co add app --artifact oci://registry.example.com/apps/hello:1.0.0
    #[command(alias = "apps")]
    App {
        /// Package folder, Git URL or OCI reference.
        #[arg(long, value_name = "SRC")]
        artifact: String,
        /// Folder of the package in a Git repository, or the expected app id.
        #[arg(long)]
        name: Option<String>,
        /// Git branch or tag.
        #[arg(long = "ref", value_name = "REF")]
        reference: Option<String>,
    },
    /// Add a site.
    #[command(alias = "sites")]
    Site {
        /// Site name: letters, digits, `-`, `_`, `.`.
        name: String,
        /// Labels, `key=value` (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// Register a device at a site.
    Device {
        /// Device id (Margo DeviceId).
        id: String,
        /// The site it belongs to.
        #[arg(long, add = crate::complete::sites())]
        site: String,
        /// Labels, `key=value` (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// Register many devices of a site at once, all or none, in one commit.
    ///
    /// FILE has one device per line: its id, then any labels as
    /// `key=value`; blank lines and lines starting with `#` are skipped. At
    /// most 10,000 devices per file.
    ///
    /// Example: `edgectl co add devices --site plant-1 --from line-2.txt`
    Devices {
        /// The site they belong to.
        #[arg(long, add = crate::complete::sites())]
        site: String,
        /// The file listing them (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
}

/// What to list.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// `apps`, `sites`, `devices` or `deployments` (singular works too).
    #[arg(value_enum)]
    pub what: ListWhat,
    /// Only devices or deployments of this site.
    #[arg(long, add = crate::complete::sites())]
    pub site: Option<String>,
    /// Only those with these labels, `key=value` (repeatable; a deployment
    /// has its device's labels).
    #[arg(short = 'l', long = "selector", value_name = "KEY=VALUE")]
    pub selector: Vec<String>,
    /// Order by this column (its header: `last-heard`, `state`, …);
    /// numbers by value.
    #[arg(long, value_name = "COLUMN")]
    pub sort_by: Option<String>,
    /// Reverse the order.
    #[arg(long)]
    pub reverse: bool,
    /// After the list, print each row again when it changes (and rows
    /// added or removed), until interrupted; JSON lines with `-o json`.
    #[arg(short, long)]
    pub watch: bool,
}

/// Listable things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListWhat {
    /// Apps in the store.
    #[value(alias = "app")]
    Apps,
    /// Sites.
    #[value(alias = "site")]
    Sites,
    /// Devices.
    #[value(alias = "device")]
    Devices,
    /// Deployments.
    #[value(alias = "deployment")]
    Deployments,
}

/// What to show.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// `app`, `site`, `device` or `deployment` (plural works too).
    #[arg(value_enum)]
    pub what: ShowWhat,
    /// Id (apps also by display name, such as "Digitron orchestrator";
    /// deployments also by a unique start of their id, at least 4
    /// characters).
    pub id: String,
}

/// Showable things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowWhat {
    /// An app.
    #[value(alias = "apps")]
    App,
    /// A site.
    #[value(alias = "sites")]
    Site,
    /// A device.
    #[value(alias = "devices")]
    Device,
    /// A deployment: app, version, place, the state last reported, its
    /// commit and parameters (`-o json` adds its ApplicationDeployment).
    #[value(alias = "deployments")]
    Deployment,
}

/// What to remove.
#[derive(Debug, Subcommand)]
pub enum RemoveCommand {
    /// Remove an app from the store (refused while deployed, unless `--force`).
    #[command(alias = "apps")]
    App {
        /// App id or display name.
        #[arg(add = crate::complete::apps())]
        id: String,
        /// Remove only this version.
        #[arg(long)]
        version: Option<String>,
        /// Remove even while deployed.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// Remove a site with its devices, and revoke the identities of its LO
    /// and devices (refused while anything is deployed there, unless
    /// `--force`).
    ///
    /// With `--force`, its deployments are removed first (one commit of
    /// its desired state). Its LO and devices are locked out at once, so
    /// they cannot fetch that removal: the workloads keep running at the
    /// site until stopped on its nodes (`edgectl en stop`). To stop them
    /// first, run `edgectl co undeploy --app APP --site SITE --wait`, then
    /// remove the site. Its desired-state history is kept: a site added
    /// again under the name continues it.
    ///
    /// Example: `edgectl co remove site plant-1`
    #[command(alias = "sites")]
    Site {
        /// Site name.
        #[arg(add = crate::complete::sites())]
        name: String,
        /// Undeploy what runs there first, instead of refusing.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// Remove a device and revoke its identities, so it cannot come back
    /// with its old certificate (refused while anything is deployed on it,
    /// unless `--force`).
    ///
    /// With `--force`, its deployments are removed first (one commit of
    /// its site's desired state). The device is locked out at once, so it
    /// cannot fetch that removal: its workloads keep running until stopped
    /// on the node (`edgectl en stop`). To stop them first, run `edgectl co
    /// undeploy ID --wait` for each, then remove the device.
    ///
    /// Example: `edgectl co remove device edge-1 --force`
    #[command(alias = "devices")]
    Device {
        /// Device id.
        #[arg(add = crate::complete::devices())]
        id: String,
        /// Undeploy what runs on it first, instead of refusing.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
}

/// What to label.
#[derive(Debug, Subcommand)]
pub enum LabelCommand {
    /// Label a site.
    #[command(alias = "sites")]
    Site {
        /// Site name.
        #[arg(add = crate::complete::sites())]
        name: String,
        /// `key=value` to set, `key-` to remove.
        #[arg(required = true, value_name = "KEY=VALUE|KEY-")]
        labels: Vec<String>,
    },
    /// Label a device.
    #[command(alias = "devices")]
    Device {
        /// Device id.
        #[arg(add = crate::complete::devices())]
        id: String,
        /// `key=value` to set, `key-` to remove.
        #[arg(required = true, value_name = "KEY=VALUE|KEY-")]
        labels: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}

/// `edgectl package …` commands.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Publish a package folder to an OCI registry as a Margo package artifact.
    ///
    /// The package is validated first; the tag defaults to (and must equal)
    /// its `metadata.version`. The CO can then add it with
    /// `edgectl co add app --artifact oci://REGISTRY/REPOSITORY:VERSION`.
    ///
    /// Example:
    ///
    ///   edgectl package push ./hello-wasm --to registry.example.com/apps/hello-wasm
    Push {
        /// The package folder.
        dir: PathBuf,
        /// Registry and repository, optionally with `:TAG` (`oci://` optional).
        #[arg(long, value_name = "REFERENCE")]
        to: String,
        /// Reach this registry (host:port) over plain HTTP, for a local registry.
        #[arg(long, value_name = "HOST:PORT")]
        insecure_registry: Vec<String>,
    },
}

/// Whose identity.
#[derive(Debug, clap::Args)]
pub struct IdentityArgs {
    /// The site.
    #[arg(long, add = crate::complete::sites())]
    pub site: String,
    /// The site's Local Orchestrator.
    #[arg(long, conflicts_with = "device", required_unless_present = "device")]
    pub lo: bool,
    /// A device of the site.
    #[arg(long, add = crate::complete::devices())]
    pub device: Option<String>,
    /// The device attaches to the CO directly (a site without an LO), not to the site's LO.
    #[arg(long, requires = "device")]
    pub direct: bool,
    /// A host name or IP address the LO is reached at, named in its
    /// certificate besides its SPIFFE ID so OCI clients that check host
    /// names (podman, skopeo) can verify its registry; repeatable.
    #[arg(long = "name", value_name = "HOST", requires = "lo")]
    pub names: Vec<String>,
    /// Folder to write the credentials to (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Whose identities to revoke.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The site.
    #[arg(long, add = crate::complete::sites())]
    pub site: String,
    /// The site's Local Orchestrator.
    #[arg(long, conflicts_with = "device", required_unless_present = "device")]
    pub lo: bool,
    /// A device of the site.
    #[arg(long, add = crate::complete::devices())]
    pub device: Option<String>,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
}

/// `edgectl co token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; only its hash is kept, the token is printed this once.
    Create {
        /// A unique name: letters, digits, `.`, `_`, `-`.
        name: String,
        /// What it may do.
        #[arg(long, value_enum)]
        scope: ScopeArg,
    },
    /// List tokens (names, scopes, who made them; never the secrets).
    List,
    /// Revoke a token: its next request is refused.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// A token scope, as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// Every read.
    Read,
    /// Reads and changing what runs.
    Deploy,
    /// Everything.
    Admin,
}
