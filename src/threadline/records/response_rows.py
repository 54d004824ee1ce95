"""The ``responses`` row (``storage.tables.ResponseRow``): the echo of a create request. A
response's state (status, usage, timestamps) is its run's; ``records.responses.ResponseRecord``
is the two joined, as the API shows it."""

from typing import Literal, TypedDict

from threadline.records.jsonvalue import JsonValue, Metadata
from threadline.records.responses import ReasoningConfig, ResponseTool, TextConfig

Truncation = Literal["auto", "disabled"]


class StoredResponse(TypedDict):
    id: str  # resp_…
    project_id: str
    run_id: str
    thread_id: str
    created_at: int
    previous_response_id: str | None
    conversation_id: str | None
    instructions: str | None  # this response's own: never inherited down a chain
    text: TextConfig
    tools: list[ResponseTool]  # as echoed (schemas.response_tools.echo_tools)
    tool_choice: JsonValue
    include: list[str]
    reasoning: ReasoningConfig
    truncation: Truncation
    max_output_tokens: int | None
    top_logprobs: int | None
    store: bool
    background: bool
    user: str | None
    safety_identifier: str | None
    prompt_cache_key: str | None
    service_tier: str | None
    metadata: Metadata
    container_id: str | None
    # The first and last messages its input became on its thread (None: no input messages).
    input_first: str | None
    input_last: str | None
    output: list[JsonValue] | None  # unused until background streams are kept
    next_sequence: int
