complete --keep-order --exclusive --command edgectl --arguments "(COMPLETE=fish edgectl -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
