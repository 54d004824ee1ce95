"""Gateway concerns (keys, projects, limits, usage), shared by the HTTP layer and the engine."""
