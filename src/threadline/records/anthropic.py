"""Anthropic's Messages API on the wire: requests, content blocks, the answer, stream events and
errors, as the ``anthropic`` SDK sends and reads them.

Both directions use these: ``/v1/messages`` in front of OpenAI-compatible models, and providers of
kind ``anthropic`` behind the OpenAI-shaped endpoints. Fields a client may send that Threadline
does not act on (``cache_control``, ``thinking``, betas, ``container``, ...) are accepted and
dropped, never refused."""

from typing import Literal, NotRequired, Required, TypeAlias, TypedDict

from threadline.records.jsonvalue import JsonObject, JsonValue

ANTHROPIC_VERSION = "2023-06-01"  # sent to anthropic upstreams unless a provider names another

StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]
ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
]


# Content blocks


class Base64Source(TypedDict):
    type: Literal["base64"]
    media_type: str  # image/jpeg, image/png, image/gif, image/webp, application/pdf
    data: str


class UrlSource(TypedDict):
    type: Literal["url"]
    url: str


class TextBlock(TypedDict):
    type: Literal["text"]
    text: str
    citations: NotRequired[list[JsonObject] | None]


class ImageBlock(TypedDict):
    type: Literal["image"]
    source: Base64Source | UrlSource


class DocumentBlock(TypedDict):
    type: Literal["document"]
    source: JsonObject  # base64 PDF, plain text, content blocks, url or file
    title: NotRequired[str | None]


class ToolUseBlock(TypedDict):
    type: Literal["tool_use"]
    id: str  # ^[a-zA-Z0-9_-]+$
    name: str
    input: JsonObject


class ToolResultBlock(TypedDict):
    type: Literal["tool_result"]
    tool_use_id: str
    content: NotRequired[str | list[TextBlock | ImageBlock | DocumentBlock]]
    is_error: NotRequired[bool]


class ThinkingBlock(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(TypedDict):
    type: Literal["redacted_thinking"]
    data: str


RequestBlock: TypeAlias = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
)
AnswerBlock: TypeAlias = TextBlock | ToolUseBlock | ThinkingBlock | RedactedThinkingBlock


# Requests


class InputMessage(TypedDict):
    role: Literal["user", "assistant"]
    content: str | list[RequestBlock]


class SystemText(TypedDict):
    type: Literal["text"]
    text: str


class Tool(TypedDict):
    """A client tool; server tools (``web_search_20250305``, ...) carry a dated ``type``."""

    name: str
    description: NotRequired[str]
    input_schema: JsonObject
    type: NotRequired[str]


class ToolChoice(TypedDict):
    type: Literal["auto", "any", "tool", "none"]
    name: NotRequired[str]  # with "tool"
    disable_parallel_tool_use: NotRequired[bool]


class MessagesRequest(TypedDict):
    """``POST /v1/messages``. ``count_tokens`` takes the same without ``max_tokens``."""

    model: str
    max_tokens: int
    messages: list[InputMessage]
    system: NotRequired[str | list[SystemText]]
    tools: NotRequired[list[Tool]]
    tool_choice: NotRequired[ToolChoice]
    stop_sequences: NotRequired[list[str]]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    top_k: NotRequired[int]
    metadata: NotRequired[JsonObject]  # {user_id?}
    stream: NotRequired[bool]
    thinking: NotRequired[JsonObject]


# A request as a client sent it. Only what ``messages_request.check_envelope`` checks has its
# own type; every other value is as sent, checked where it is read (or never: a pass-through to
# an Anthropic upstream forwards the body untouched).


class MessagesBody(TypedDict):
    """A ``/v1/messages`` or ``count_tokens`` body once its envelope is checked: a model, a list
    of messages and, for creating a message, a positive ``max_tokens``. Fields not named here
    are kept (forwarded to Anthropic upstreams) and otherwise ignored. (A request Threadline
    writes itself is a ``MessagesRequest``.)"""

    model: str
    messages: list[JsonValue]
    max_tokens: NotRequired[JsonValue]  # creating: a positive int (checked); counting: unread
    system: NotRequired[JsonValue]
    tools: NotRequired[JsonValue]
    tool_choice: NotRequired[JsonValue]
    stop_sequences: NotRequired[JsonValue]
    temperature: NotRequired[JsonValue]
    top_p: NotRequired[JsonValue]
    top_k: NotRequired[JsonValue]
    metadata: NotRequired[JsonValue]
    stream: NotRequired[JsonValue]
    thinking: NotRequired[JsonValue]
    output_config: NotRequired[JsonValue]  # {effort?, format?}


class ClientBlock(TypedDict, total=False):
    """A content block of a client's turn, its ``type`` checked: the fields of the block kinds
    above that the translation reads, each as sent."""

    type: Required[str]
    text: JsonValue
    source: JsonValue  # image, document
    title: JsonValue  # document
    id: JsonValue  # tool_use
    name: JsonValue
    input: JsonValue
    tool_use_id: JsonValue  # tool_result
    content: JsonValue
    is_error: JsonValue


# The answer


class Usage(TypedDict):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: NotRequired[int | None]
    cache_read_input_tokens: NotRequired[int | None]


class Message(TypedDict):
    id: str  # msg_...
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[AnswerBlock]
    stop_reason: StopReason | None  # null only in message_start
    stop_sequence: str | None
    usage: Usage


class CountTokensResult(TypedDict):
    input_tokens: int


# Stream events: ``event: <type>\ndata: <json>\n\n``, no [DONE]


class MessageStart(TypedDict):
    type: Literal["message_start"]
    message: Message


class ContentBlockStart(TypedDict):
    type: Literal["content_block_start"]
    index: int
    content_block: AnswerBlock


class TextDelta(TypedDict):
    type: Literal["text_delta"]
    text: str


class InputJsonDelta(TypedDict):
    type: Literal["input_json_delta"]
    partial_json: str


class ThinkingDelta(TypedDict):
    type: Literal["thinking_delta"]
    thinking: str


class SignatureDelta(TypedDict):
    type: Literal["signature_delta"]
    signature: str


BlockDelta: TypeAlias = TextDelta | InputJsonDelta | ThinkingDelta | SignatureDelta


class ContentBlockDelta(TypedDict):
    type: Literal["content_block_delta"]
    index: int
    delta: BlockDelta


class ContentBlockStop(TypedDict):
    type: Literal["content_block_stop"]
    index: int


class MessageDeltaBody(TypedDict):
    stop_reason: StopReason | None
    stop_sequence: str | None


class MessageDeltaUsage(TypedDict):
    output_tokens: int
    input_tokens: NotRequired[int | None]
    cache_creation_input_tokens: NotRequired[int | None]
    cache_read_input_tokens: NotRequired[int | None]


class MessageDelta(TypedDict):
    type: Literal["message_delta"]
    delta: MessageDeltaBody
    usage: MessageDeltaUsage


class MessageStop(TypedDict):
    type: Literal["message_stop"]


class Ping(TypedDict):
    type: Literal["ping"]


class ErrorDetail(TypedDict):
    type: ErrorType
    message: str


class ErrorBody(TypedDict):
    """An error answer (with its HTTP status) and a stream's ``error`` event alike."""

    type: Literal["error"]
    error: ErrorDetail
    request_id: NotRequired[str]


StreamEvent: TypeAlias = (
    MessageStart
    | ContentBlockStart
    | ContentBlockDelta
    | ContentBlockStop
    | MessageDelta
    | MessageStop
    | Ping
    | ErrorBody
)

# The error type of each HTTP status (other 4xx: invalid_request_error; other 5xx: api_error).
ERROR_TYPES: dict[int, ErrorType] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type_for(status: int) -> ErrorType:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"
