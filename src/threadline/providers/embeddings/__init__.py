"""Text embeddings: the Protocol retrieval speaks, an embedded local model and remote endpoints."""
