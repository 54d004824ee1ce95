"""Where uploaded files' bytes live: a Protocol, and the local-disk store under the data dir."""
