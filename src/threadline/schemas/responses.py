"""Request bodies of the Responses and Conversations APIs, as the spec defines them.

Every field OpenAI accepts is type-checked, even those with no behaviour here (``prompt``,
``service_tier``…): a client that sends them gets them echoed, not a 400. Refusals OpenAI words
in its own way (an unsupported tool or item type, two ways of giving state at once, background
without store) raise ``InvalidRequest`` with that wording; pydantic passes such errors through
unchanged (it only collects ``ValueError``s). What pydantic reports is worded by the API layer's
validation-error mapping (``api.response_validation``)."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from threadline.errors import InvalidRequest
from threadline.schemas.common import (
    FunctionName,
    JsonObject,
    Metadata,
    ReasoningEffort,
    RequestModel,
    Temperature,
    TopP,
    WithMetadata,
)
from threadline.schemas.response_items import MAX_TEXT, ConversationItems, InputItems
from threadline.schemas.response_tools import ResponseTools, ToolChoice

# ``include[]`` values OpenAI knows. The last four name tools this server does not have: they
# are accepted (and change nothing), as OpenAI accepts them without such a tool.
INCLUDABLE = (
    "file_search_call.results",
    "code_interpreter_call.outputs",
    "message.output_text.logprobs",
    "reasoning.encrypted_content",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "web_search_call.results",
    "web_search_call.action.sources",
)
Includable = Literal[
    "file_search_call.results",
    "code_interpreter_call.outputs",
    "message.output_text.logprobs",
    "reasoning.encrypted_content",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "web_search_call.results",
    "web_search_call.action.sources",
]
Include = Annotated[list[Includable], Field(max_length=len(INCLUDABLE) * 2)]

ModelName = Annotated[str, Field(min_length=1, max_length=256)]
ObjectId = Annotated[str, Field(min_length=1, max_length=64)]
Identifier = Annotated[str, Field(max_length=512)]


class ConversationParam(RequestModel):
    id: ObjectId


class TextFormatText(RequestModel):
    type: Literal["text"]


class TextFormatJsonObject(RequestModel):
    type: Literal["json_object"]


class TextFormatJsonSchema(RequestModel):
    type: Literal["json_schema"]
    name: FunctionName
    schema_: JsonObject = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = Annotated[
    TextFormatText | TextFormatJsonObject | TextFormatJsonSchema, Field(discriminator="type")
]


class TextParam(RequestModel):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningParam(RequestModel):
    effort: ReasoningEffort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None  # deprecated alias
    mode: Annotated[str, Field(max_length=64)] | None = None


class StreamOptions(RequestModel):
    include_obfuscation: bool | None = None


class ContextInput(RequestModel):
    """What ``POST /v1/responses`` and ``POST /v1/responses/input_tokens`` share: the input,
    and everything that decides how the model reads it."""

    input: Annotated[str, Field(max_length=MAX_TEXT)] | InputItems | None = None
    instructions: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    previous_response_id: ObjectId | None = None
    conversation: ObjectId | ConversationParam | None = None
    tools: ResponseTools | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextParam | None = None
    reasoning: ReasoningParam | None = None
    truncation: Literal["auto", "disabled"] | None = None

    @model_validator(mode="after")
    def _one_kind_of_state(self) -> "ContextInput":
        if self.previous_response_id is not None and self.conversation is not None:
            raise InvalidRequest(
                "Mutually exclusive parameters. Ensure you are only providing one of: "
                "'previous_response_id' or 'conversation'.",
                code="mutually_exclusive_parameters",
            )
        return self

    @property
    def conversation_id(self) -> str | None:
        if isinstance(self.conversation, ConversationParam):
            return self.conversation.id
        return self.conversation


class CreateResponse(ContextInput, WithMetadata):
    model: ModelName
    store: bool | None = None
    background: bool | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_output_tokens: Annotated[int, Field(ge=16)] | None = None
    max_tool_calls: Annotated[int, Field(ge=1)] | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    include: Include | None = None
    user: Identifier | None = None
    safety_identifier: Identifier | None = None
    prompt_cache_key: Identifier | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    prompt_cache_options: JsonObject | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast"] | None = None
    prompt: JsonObject | None = None
    context_management: Annotated[list[JsonObject], Field(max_length=16)] | None = None
    moderation: JsonObject | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "CreateResponse":
        if self.background and self.store is False:
            raise InvalidRequest(
                "Background mode requires the response to be stored: set store to true.",
                param="background",
                code="invalid_value",
            )
        if self.stream_options is not None and not self.stream:
            raise InvalidRequest(
                "stream_options may only be set when stream is true.",
                param="stream_options",
                code="invalid_value",
            )
        if (self.input is None or self.input == "" or self.input == []) and (
            self.previous_response_id is None and self.conversation is None and self.prompt is None
        ):
            raise InvalidRequest(
                "Missing required parameter: 'input'.",
                param="input",
                code="missing_required_parameter",
            )
        return self

    @property
    def stores(self) -> bool:
        return self.store is not False


class CountInputTokens(ContextInput):
    """``POST /v1/responses/input_tokens``: the model is optional (the count needs only a
    tokenizer), and ``personality`` is accepted as the spec lists it."""

    model: ModelName | None = None
    personality: Annotated[str, Field(max_length=64)] | None = None


class CreateConversation(WithMetadata):
    items: ConversationItems | None = None


class UpdateConversation(RequestModel):
    metadata: Metadata


class CreateConversationItems(RequestModel):
    items: ConversationItems


__all__ = [
    "INCLUDABLE",
    "ConversationParam",
    "CountInputTokens",
    "CreateConversation",
    "CreateConversationItems",
    "CreateResponse",
    "UpdateConversation",
]
