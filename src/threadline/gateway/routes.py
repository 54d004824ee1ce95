"""Which requests the gateway meters, and which belong to the Assistants API (for
Assistants pass-through projects). Plain path patterns, so routes added later (files, vector
stores) are covered without registering anything."""

import re

# Requests that make the model work: their tokens and cost are counted, so they are admitted
# only with room in the tokens-per-minute windows and an unspent budget.
_METERED = re.compile(
    r"^/v1/(?:chat/completions|completions|embeddings|threads/runs"
    r"|threads/[^/]+/runs|threads/[^/]+/runs/[^/]+/submit_tool_outputs)$"
)
_ASSISTANTS_API = re.compile(r"^/v1/(?:assistants|threads|files|vector_stores|uploads)(?:/|$)")


def is_metered(method: str, path: str) -> bool:
    return method == "POST" and _METERED.match(path) is not None


def is_assistants_api(path: str) -> bool:
    return _ASSISTANTS_API.match(path) is not None
