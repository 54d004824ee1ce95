"""The run engine: context building, the tool loop, run steps, workers and the event bus."""
