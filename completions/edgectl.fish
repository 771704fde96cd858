# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_edgectl_global_optspecs
    string join \n o/output= h/help V/version
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
complete -c edgectl -n "__fish_edgectl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_needs_command" -s V -l version -d 'Print version'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "validate" -d 'Check Margo documents and application packages'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c edgectl -n "__fish_edgectl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -s q -l quiet -d 'Do not print notes (extensions used, older Margo forms converted)'
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand validate" -s V -l version -d 'Print version'
complete -c edgectl -n "__fish_edgectl_using_subcommand completions" -s o -l output -d 'Output format: `table` for people, `json` or `yaml` for scripts' -r -f -a "table\t'Lines and tables for people'
json\t'Stable JSON for scripts'
yaml\t'The same structure as JSON, in YAML'"
complete -c edgectl -n "__fish_edgectl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c edgectl -n "__fish_edgectl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate completions help" -f -a "validate" -d 'Check Margo documents and application packages'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c edgectl -n "__fish_edgectl_using_subcommand help; and not __fish_seen_subcommand_from validate completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
