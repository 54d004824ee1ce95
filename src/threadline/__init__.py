"""Threadline: a self-hosted OpenAI Assistants API v2 server and AI gateway."""

__version__ = "0.1.0"
