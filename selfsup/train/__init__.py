"""The training loop, its checkpoints and the hooks a caller uses to watch and stop it."""
