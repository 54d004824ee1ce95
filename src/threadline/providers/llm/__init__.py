"""Chat models: the Protocol the run engine speaks, and OpenAI-compatible upstreams behind it."""
