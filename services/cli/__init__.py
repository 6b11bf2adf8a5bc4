"""`kap`: the operators' command line (tokens, status, dead letters, rebuild, bench)."""
