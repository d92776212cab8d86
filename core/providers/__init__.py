"""One module per provider: request mapping and response parsing, nothing else."""
