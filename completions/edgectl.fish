# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_edgectl_global_optspecs
    string join \n o/output= server= token-file= ca-file= h/help V/version
end

function __fish_edgectl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_edgectl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_edgectl_using_subcommand
    set -l cmd (__fish_edgectl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c edgectl -n "__fish_edgectl_needs_command" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_needs_command" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_needs_command" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_needs_command" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_needs_command" -s V -l version -d 'Print version'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "validate" -d 'Check Margo documents and application packages'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "co" -d 'Work with a central orchestrator: app store, sites, devices'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "en" -d 'Operate the edge node on this host: what runs, logs, stop and start'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "lo" -d 'Work with a Local Orchestrator\'s data folder on this host: take in a site written to a USB stick by `edgectl co export`'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "package" -d 'Work with application packages'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "tui" -d 'A live terminal UI: sites, devices, deployments and apps, with states as the CO reports them; deploy and undeploy; a workload\'s log'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "login" -d 'Save the server URL and its token for later commands'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -s q -l quiet -d 'Do not print notes (extensions used, older Margo forms converted)'
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "status" -d 'Server version, counts and health'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "add" -d 'Add an app, a site or a device'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "list" -d 'List apps, sites or devices'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "show" -d 'Show one app, site or device'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "remove" -d 'Remove an app (or one of its versions)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "label" -d 'Set or remove labels of a site or device (`key=value` sets, `key-` removes)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "deploy" -d 'Deploy an app to devices of a site (one commit to the site\'s desired state)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "set" -d 'Change parameter values of running deployments in place; the values not named keep theirs, and each deployment keeps its id'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "upgrade" -d 'Move deployments of an app to another version (the newest by default), in place: each keeps its id, profile type and the values set for it, checked against the new version\'s schema first'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "apply" -d 'Make the fleet\'s deployments match the desired ones in files: create, update in place, and with `--prune` remove what an earlier apply made that the files no longer name. Applying the same files again changes nothing and makes no commit'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "diff" -d 'Print what `co apply` of these files would change (`+` create, `~` update with what changes, `-` remove with `--prune`); change nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "undeploy" -d 'Remove deployments from their site\'s desired state (a new commit)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "rollout" -d 'Follow and steer rollouts: changes of many devices going out in waves (`--waves`, `--batch` on deploy, set, upgrade and apply)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "enroll" -d 'Issue an identity for a site\'s Local Orchestrator or for a device, and write its credentials folder'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "revoke" -d 'Revoke the identities of a site\'s LO or of a device: their next request fails'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "token" -d 'Create, list and revoke API tokens with a scope (admin scope needed)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "audit" -d 'The audit log: every change asked of the CO and every refused request (who, what, when, from where), oldest first (admin scope needed)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "rollback" -d 'Restore a site\'s desired state of an earlier commit, as a new commit'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "watch" -d 'Print changes at the CO as they happen: deployments, reported status, devices, sites and apps, one line each (JSON lines with `-o json`)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "export" -d 'Write a site onto a USB stick (or any folder) for a site with no network'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "import-status" -d 'Take in the status a site stick carries back (`edgectl lo export-status`); taking the same stick in twice changes nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "history" -d 'The commits of a site\'s desired state, newest first'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and not __fish_seen_subcommand_from status add list show remove label deploy set upgrade apply diff undeploy rollout enroll revoke token audit rollback watch export import-status history help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from status" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from status" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from status" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from status" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -f -a "app" -d 'Add an application package to the app store'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -f -a "site" -d 'Add a site'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -f -a "device" -d 'Register a device at a site'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -f -a "devices" -d 'Register many devices of a site at once, all or none, in one commit'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from add" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from list" -l site -d 'Only devices or deployments of this site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from list" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from list" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from list" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from show" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from show" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from show" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from remove" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from remove" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from remove" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from remove" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from remove" -f -a "app" -d 'Remove an app from the store (refused while deployed, unless `--force`)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from remove" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from label" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from label" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from label" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from label" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from label" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from label" -f -a "site" -d 'Label a site'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from label" -f -a "device" -d 'Label a device'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from label" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l app -d 'App id or display name [on a terminal, asked when missing]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l app-version -d 'App version [default: the newest]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l site -d 'The site [on a terminal, asked when missing]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l device -d 'One device of the site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l selector -d 'Only devices with these labels, `key=value` (repeatable)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l set -d 'A parameter value, `NAME=VALUE` (repeatable)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l deploytype -d 'Which profile to deploy: helm, compose, wasm or process [default: the app\'s first]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l name -d 'Name this deployment, to run more than one of the app on a device (lower-case letters, digits, dashes); deploying with the same name again updates it' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l timeout -d 'How long `--wait` waits: `90s`, `5m`, `1h` or seconds' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l waves -d 'Send the change in waves, each waiting until its devices report it installed: how far each wave goes, as counts or shares of the devices, e.g. `1,10%,50%,100%` (the last always reaches all)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l batch -d 'Send the change in waves of N devices each' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l max-failures -d 'Devices that may fail, or not report within a wave\'s time, before the rollout stops: a count or a share, `2` or `5%` [default: 0]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l wave-timeout -d 'How long a wave waits for its devices: `90s`, `10m`, `1h` [default: 10m]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l dry-run -d 'Print what would change; change nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l wait -d 'Wait until every device reports the change done, showing progress; exit 1 with a summary if any fails or the time runs out'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -l auto-rollback -d 'When the rollout stops, put the previous deployments back on every device it changed [default: pause, to resume or undo by hand]'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l app -d 'The app (id or display name) whose deployments to change' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l site -d 'Its deployments at this site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l device -d 'Only on this device' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l selector -d 'Only on devices with these labels, `key=value` (repeatable)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l timeout -d 'How long `--wait` waits: `90s`, `5m`, `1h` or seconds' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l waves -d 'Send the change in waves, each waiting until its devices report it installed: how far each wave goes, as counts or shares of the devices, e.g. `1,10%,50%,100%` (the last always reaches all)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l batch -d 'Send the change in waves of N devices each' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l max-failures -d 'Devices that may fail, or not report within a wave\'s time, before the rollout stops: a count or a share, `2` or `5%` [default: 0]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l wave-timeout -d 'How long a wave waits for its devices: `90s`, `10m`, `1h` [default: 10m]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l all-sites -d 'Its deployments at every site'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l dry-run -d 'Print what would change; change nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l wait -d 'Wait until every device reports the change done, showing progress; exit 1 with a summary if any fails or the time runs out'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -l auto-rollback -d 'When the rollout stops, put the previous deployments back on every device it changed [default: pause, to resume or undo by hand]'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l to-version -d 'The version to move to [default: the app\'s newest]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l app -d 'The app (id or display name) whose deployments to change' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l site -d 'Its deployments at this site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l device -d 'Only on this device' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l selector -d 'Only on devices with these labels, `key=value` (repeatable)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l timeout -d 'How long `--wait` waits: `90s`, `5m`, `1h` or seconds' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l waves -d 'Send the change in waves, each waiting until its devices report it installed: how far each wave goes, as counts or shares of the devices, e.g. `1,10%,50%,100%` (the last always reaches all)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l batch -d 'Send the change in waves of N devices each' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l max-failures -d 'Devices that may fail, or not report within a wave\'s time, before the rollout stops: a count or a share, `2` or `5%` [default: 0]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l wave-timeout -d 'How long a wave waits for its devices: `90s`, `10m`, `1h` [default: 10m]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l all-sites -d 'Its deployments at every site'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l dry-run -d 'Print what would change; change nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l wait -d 'Wait until every device reports the change done, showing progress; exit 1 with a summary if any fails or the time runs out'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -l auto-rollback -d 'When the rollout stops, put the previous deployments back on every device it changed [default: pause, to resume or undo by hand]'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from upgrade" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -s f -l file -d 'A file, or a folder of `.yaml`/`.yml`/`.json` files (repeatable)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l waves -d 'Send the change in waves, each waiting until its devices report it installed: how far each wave goes, as counts or shares of the devices, e.g. `1,10%,50%,100%` (the last always reaches all)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l batch -d 'Send the change in waves of N devices each' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l max-failures -d 'Devices that may fail, or not report within a wave\'s time, before the rollout stops: a count or a share, `2` or `5%` [default: 0]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l wave-timeout -d 'How long a wave waits for its devices: `90s`, `10m`, `1h` [default: 10m]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l prune -d 'Also remove deployments made by an earlier apply that no file names'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l dry-run -d 'Print what would change; change nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -l auto-rollback -d 'When the rollout stops, put the previous deployments back on every device it changed [default: pause, to resume or undo by hand]'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from diff" -s f -l file -d 'A file, or a folder of `.yaml`/`.yml`/`.json` files (repeatable)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from diff" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from diff" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from diff" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from diff" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from diff" -l prune -d 'Also show what `--prune` would remove'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -l app -d 'Every deployment of this app (id or display name) at `--site`' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -l site -d 'The site of `--app`' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -l device -d 'Only on this device' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -l timeout -d 'How long `--wait` waits: `90s`, `5m`, `1h` or seconds' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -s y -l yes -d 'Do not ask for confirmation'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -l dry-run -d 'Print what would be removed; remove nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -l wait -d 'Wait until every device reports the change done, showing progress; exit 1 with a summary if any fails or the time runs out'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from undeploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -f -a "list" -d 'List rollouts, newest first, with their progress'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -f -a "status" -d 'Show a rollout: each wave\'s progress and each device\'s state'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -f -a "pause" -d 'Stop sending waves; the devices already changed keep the change'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -f -a "resume" -d 'Go on with a paused rollout; the failures so far are accepted'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -f -a "undo" -d 'Put the previous deployments back on every device the rollout changed and send nothing more (deployments changed since by something else are left alone)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollout" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -l site -d 'The site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -l device -d 'A device of the site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -l out -d 'Folder to write the credentials to (must not exist, or be empty)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -l lo -d 'The site\'s Local Orchestrator'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -l direct -d 'The device attaches to the CO directly (a site without an LO), not to the site\'s LO'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from enroll" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from revoke" -l site -d 'The site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from revoke" -l device -d 'A device of the site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from revoke" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from revoke" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from revoke" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from revoke" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from revoke" -l lo -d 'The site\'s Local Orchestrator'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from revoke" -s y -l yes -d 'Do not ask for confirmation'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from token" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from token" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from token" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from token" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from token" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from token" -f -a "create" -d 'Make a token; only its hash is kept, the token is printed this once'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from token" -f -a "list" -d 'List tokens (names, scopes, who made them; never the secrets)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke a token: its next request is refused'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from token" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from audit" -l limit -d 'Show at most this many entries, the newest (1 to 1000)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from audit" -l after -d 'Only entries after this position (the `seq` of an earlier entry)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from audit" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from audit" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from audit" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from audit" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollback" -l site -d 'The site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollback" -l to -d 'The commit to go back to (see `edgectl co history`)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollback" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollback" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollback" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollback" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollback" -s y -l yes -d 'Do not ask for confirmation'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from rollback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from watch" -l site -d 'Only events of this site (and rollouts\', which span sites); an unknown site is refused, naming the sites there are' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from watch" -l since -d 'Start after this event id (as printed with `-o json`) instead of now' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from watch" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from watch" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from watch" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from watch" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from export" -l site -d 'The site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from export" -l to -d 'The folder to write (made when missing; an earlier export there is brought up to date)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from export" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from export" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from export" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from export" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from export" -l with-credentials -d 'Also enrol the site\'s LO and put its credentials (a private key) on the stick'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from export" -l skip-images -d 'Leave out the container images the CO cannot pull (a warning names each; the site then needs their registry) instead of failing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from import-status" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from import-status" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from import-status" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from import-status" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from import-status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from history" -l site -d 'The site' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from history" -l limit -d 'Most commits to show' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from history" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from history" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from history" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from history" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "status" -d 'Server version, counts and health'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add an app, a site or a device'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "list" -d 'List apps, sites or devices'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one app, site or device'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove an app (or one of its versions)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "label" -d 'Set or remove labels of a site or device (`key=value` sets, `key-` removes)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "deploy" -d 'Deploy an app to devices of a site (one commit to the site\'s desired state)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "set" -d 'Change parameter values of running deployments in place; the values not named keep theirs, and each deployment keeps its id'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "upgrade" -d 'Move deployments of an app to another version (the newest by default), in place: each keeps its id, profile type and the values set for it, checked against the new version\'s schema first'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "apply" -d 'Make the fleet\'s deployments match the desired ones in files: create, update in place, and with `--prune` remove what an earlier apply made that the files no longer name. Applying the same files again changes nothing and makes no commit'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "diff" -d 'Print what `co apply` of these files would change (`+` create, `~` update with what changes, `-` remove with `--prune`); change nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "undeploy" -d 'Remove deployments from their site\'s desired state (a new commit)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "rollout" -d 'Follow and steer rollouts: changes of many devices going out in waves (`--waves`, `--batch` on deploy, set, upgrade and apply)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "enroll" -d 'Issue an identity for a site\'s Local Orchestrator or for a device, and write its credentials folder'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke the identities of a site\'s LO or of a device: their next request fails'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "token" -d 'Create, list and revoke API tokens with a scope (admin scope needed)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "audit" -d 'The audit log: every change asked of the CO and every refused request (who, what, when, from where), oldest first (admin scope needed)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "rollback" -d 'Restore a site\'s desired state of an earlier commit, as a new commit'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "watch" -d 'Print changes at the CO as they happen: deployments, reported status, devices, sites and apps, one line each (JSON lines with `-o json`)'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write a site onto a USB stick (or any folder) for a site with no network'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "import-status" -d 'Take in the status a site stick carries back (`edgectl lo export-status`); taking the same stick in twice changes nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "history" -d 'The commits of a site\'s desired state, newest first'
complete -c edgectl -n "__fish_edgectl_using_subcommand co; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -l data -d 'The node\'s data directory (its socket is `DIR/en.sock`)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -f -a "list" -d 'The node and its workloads: desired and running version, state, restarts, last error, and when the fleet manager was last heard from'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -f -a "start" -d 'Start a workload an operator stopped'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -f -a "stop" -d 'Stop a workload (gracefully, then killed); it stays stopped, and is reported `failed` (STOPPED) upward, until started again or the node restarts'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -f -a "restart" -d 'Stop a workload and start it again'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -f -a "logs" -d 'Print a workload\'s output (stdout and stderr)'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -f -a "metrics" -d 'Memory, CPU time, restarts and log size of a workload'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and not __fish_seen_subcommand_from list start stop restart logs metrics help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from list" -l data -d 'The node\'s data directory (its socket is `DIR/en.sock`)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from list" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from list" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from list" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from start" -l data -d 'The node\'s data directory (its socket is `DIR/en.sock`)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from start" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from start" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from start" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from start" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from stop" -l data -d 'The node\'s data directory (its socket is `DIR/en.sock`)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from stop" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from stop" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from stop" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from stop" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from restart" -l data -d 'The node\'s data directory (its socket is `DIR/en.sock`)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from restart" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from restart" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from restart" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from restart" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from restart" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from logs" -l data -d 'The node\'s data directory (its socket is `DIR/en.sock`)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from logs" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from logs" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from logs" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from logs" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Keep printing what it writes until interrupted'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from metrics" -l data -d 'The node\'s data directory (its socket is `DIR/en.sock`)' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from metrics" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from metrics" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from metrics" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from metrics" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from metrics" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from help" -f -a "list" -d 'The node and its workloads: desired and running version, state, restarts, last error, and when the fleet manager was last heard from'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start a workload an operator stopped'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop a workload (gracefully, then killed); it stays stopped, and is reported `failed` (STOPPED) upward, until started again or the node restarts'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from help" -f -a "restart" -d 'Stop a workload and start it again'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print a workload\'s output (stdout and stderr)'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from help" -f -a "metrics" -d 'Memory, CPU time, restarts and log size of a workload'
complete -c edgectl -n "__fish_edgectl_using_subcommand en; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and not __fish_seen_subcommand_from import export-status help" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and not __fish_seen_subcommand_from import export-status help" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and not __fish_seen_subcommand_from import export-status help" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and not __fish_seen_subcommand_from import export-status help" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and not __fish_seen_subcommand_from import export-status help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and not __fish_seen_subcommand_from import export-status help" -f -a "import" -d 'Take a site stick into an LO\'s data folder, with no network'
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and not __fish_seen_subcommand_from import export-status help" -f -a "export-status" -d 'Write the status and capabilities the site has not yet handed to the CO onto a stick, for `edgectl co import-status` at the CO'
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and not __fish_seen_subcommand_from import export-status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from import" -l data -d 'The LO\'s data folder' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from import" -l credentials -d 'The LO\'s credentials folder (its `ca.crt` and site); by default those the LO recorded in its data folder when it started' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from import" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from import" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from import" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from import" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from export-status" -l data -d 'The LO\'s data folder' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from export-status" -l to -d 'The stick folder' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from export-status" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from export-status" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from export-status" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from export-status" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from export-status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from help" -f -a "import" -d 'Take a site stick into an LO\'s data folder, with no network'
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from help" -f -a "export-status" -d 'Write the status and capabilities the site has not yet handed to the CO onto a stick, for `edgectl co import-status` at the CO'
complete -c edgectl -n "__fish_edgectl_using_subcommand lo; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and not __fish_seen_subcommand_from push help" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and not __fish_seen_subcommand_from push help" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and not __fish_seen_subcommand_from push help" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and not __fish_seen_subcommand_from push help" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and not __fish_seen_subcommand_from push help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and not __fish_seen_subcommand_from push help" -f -a "push" -d 'Publish a package folder to an OCI registry as a Margo package artifact'
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and not __fish_seen_subcommand_from push help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and __fish_seen_subcommand_from push" -l to -d 'Registry and repository, optionally with `:TAG` (`oci://` optional)' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and __fish_seen_subcommand_from push" -l insecure-registry -d 'Reach this registry (host:port) over plain HTTP, for a local registry' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and __fish_seen_subcommand_from push" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and __fish_seen_subcommand_from push" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and __fish_seen_subcommand_from push" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and __fish_seen_subcommand_from push" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and __fish_seen_subcommand_from push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and __fish_seen_subcommand_from help" -f -a "push" -d 'Publish a package folder to an OCI registry as a Margo package artifact'
complete -c edgectl -n "__fish_edgectl_using_subcommand package; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand tui" -l en-data -d 'An edge node\'s data folder on this host (its socket `DIR/en.sock`), for workload logs' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand tui" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand tui" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand tui" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand tui" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand tui" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand login" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand login" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand login" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand login" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand completions" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand completions" -l server -d 'Central orchestrator URL [default: the one saved by `edgectl login`]' -r
complete -c edgectl -n "__fish_edgectl_using_subcommand completions" -l token-file -d 'Read the API token from this file (mode 0600 recommended) [default: `EDGE_TOKEN` if set, else the token saved by `edgectl login`]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand completions" -l ca-file -d 'Also trust this CA certificate (PEM) for the server\'s TLS: the CO\'s `DATA/ca/ca.crt` when it issued its own north certificate [default: the one saved by `edgectl login`, and the system\'s]' -r -F
complete -c edgectl -n "__fish_edgectl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate co en lo package tui login completions help" -f -a "validate" -d 'Check Margo documents and application packages'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate co en lo package tui login completions help" -f -a "co" -d 'Work with a central orchestrator: app store, sites, devices'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate co en lo package tui login completions help" -f -a "en" -d 'Operate the edge node on this host: what runs, logs, stop and start'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate co en lo package tui login completions help" -f -a "lo" -d 'Work with a Local Orchestrator\'s data folder on this host: take in a site written to a USB stick by `edgectl co export`'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate co en lo package tui login completions help" -f -a "package" -d 'Work with application packages'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate co en lo package tui login completions help" -f -a "tui" -d 'A live terminal UI: sites, devices, deployments and apps, with states as the CO reports them; deploy and undeploy; a workload\'s log'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate co en lo package tui login completions help" -f -a "login" -d 'Save the server URL and its token for later commands'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate co en lo package tui login completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate co en lo package tui login completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "status" -d 'Server version, counts and health'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "add" -d 'Add an app, a site or a device'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "list" -d 'List apps, sites or devices'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "show" -d 'Show one app, site or device'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "remove" -d 'Remove an app (or one of its versions)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "label" -d 'Set or remove labels of a site or device (`key=value` sets, `key-` removes)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "deploy" -d 'Deploy an app to devices of a site (one commit to the site\'s desired state)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "set" -d 'Change parameter values of running deployments in place; the values not named keep theirs, and each deployment keeps its id'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "upgrade" -d 'Move deployments of an app to another version (the newest by default), in place: each keeps its id, profile type and the values set for it, checked against the new version\'s schema first'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "apply" -d 'Make the fleet\'s deployments match the desired ones in files: create, update in place, and with `--prune` remove what an earlier apply made that the files no longer name. Applying the same files again changes nothing and makes no commit'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "diff" -d 'Print what `co apply` of these files would change (`+` create, `~` update with what changes, `-` remove with `--prune`); change nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "undeploy" -d 'Remove deployments from their site\'s desired state (a new commit)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "rollout" -d 'Follow and steer rollouts: changes of many devices going out in waves (`--waves`, `--batch` on deploy, set, upgrade and apply)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "enroll" -d 'Issue an identity for a site\'s Local Orchestrator or for a device, and write its credentials folder'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "revoke" -d 'Revoke the identities of a site\'s LO or of a device: their next request fails'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "token" -d 'Create, list and revoke API tokens with a scope (admin scope needed)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "audit" -d 'The audit log: every change asked of the CO and every refused request (who, what, when, from where), oldest first (admin scope needed)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "rollback" -d 'Restore a site\'s desired state of an earlier commit, as a new commit'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "watch" -d 'Print changes at the CO as they happen: deployments, reported status, devices, sites and apps, one line each (JSON lines with `-o json`)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "export" -d 'Write a site onto a USB stick (or any folder) for a site with no network'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "import-status" -d 'Take in the status a site stick carries back (`edgectl lo export-status`); taking the same stick in twice changes nothing'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from co" -f -a "history" -d 'The commits of a site\'s desired state, newest first'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from en" -f -a "list" -d 'The node and its workloads: desired and running version, state, restarts, last error, and when the fleet manager was last heard from'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from en" -f -a "start" -d 'Start a workload an operator stopped'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from en" -f -a "stop" -d 'Stop a workload (gracefully, then killed); it stays stopped, and is reported `failed` (STOPPED) upward, until started again or the node restarts'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from en" -f -a "restart" -d 'Stop a workload and start it again'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from en" -f -a "logs" -d 'Print a workload\'s output (stdout and stderr)'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from en" -f -a "metrics" -d 'Memory, CPU time, restarts and log size of a workload'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from lo" -f -a "import" -d 'Take a site stick into an LO\'s data folder, with no network'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from lo" -f -a "export-status" -d 'Write the status and capabilities the site has not yet handed to the CO onto a stick, for `edgectl co import-status` at the CO'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and __fish_seen_subcommand_from package" -f -a "push" -d 'Publish a package folder to an OCI registry as a Margo package artifact'
