"""A Chat Completions answer on the wire, as the gateway writes one for an Anthropic upstream's
(``anthropic_completions``): the ``chat.completion`` object, the choice of each
``chat.completion.chunk`` (the rest of a chunk is written as bytes once per stream), the usage.
What a client reads, in OpenAI's shape; fields OpenAI sends that Threadline has nothing for are
null (``refusal``, ``logprobs``)."""

from typing import Literal, NotRequired, TypedDict

from threadline.providers.llm.base import ChatToolCall


class PromptTokensDetails(TypedDict):
    cached_tokens: int


class CompletionUsage(TypedDict):
    prompt_tokens: int  # cached tokens included
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class AnswerMessage(TypedDict):
    role: Literal["assistant"]
    content: str | None  # null when the answer is only tool calls
    refusal: None
    reasoning_content: NotRequired[str]  # as vLLM and DeepSeek name the reasoning
    tool_calls: NotRequired[list[ChatToolCall]]


class CompletionChoice(TypedDict):
    index: int
    message: AnswerMessage
    finish_reason: str
    logprobs: None


class ChatCompletion(TypedDict):
    id: str  # chatcmpl-...
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage


class FunctionFragment(TypedDict):
    name: NotRequired[str]  # on a call's first fragment only
    arguments: str  # the next piece of the JSON arguments


class ToolCallFragment(TypedDict):
    index: int
    id: NotRequired[str]  # on a call's first fragment only, with its type
    type: NotRequired[Literal["function"]]
    function: FunctionFragment


class ChunkDelta(TypedDict, total=False):
    role: Literal["assistant"]  # the first chunk's
    content: str
    reasoning_content: str
    tool_calls: list[ToolCallFragment]


class ChunkChoice(TypedDict):
    index: int
    delta: ChunkDelta
    finish_reason: str | None  # the last chunk's
    logprobs: None
