"""Request models (ours, strict) and response types (the official SDK's own pydantic models).

Only this package imports ``openai.types``."""
