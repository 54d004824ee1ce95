"""Input items of the Responses and Conversations APIs, as the spec defines them.

A message may omit ``type`` (``{"role": "user", "content": "Hi"}``), so items are told apart by
a discriminator that reads ``type`` with ``message`` as its default. An item type that exists at
OpenAI but not here (``web_search_call``, ``computer_call``…) is refused with OpenAI's wording
and its own path as ``param``, before pydantic looks at the rest."""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag

from threadline.errors import InvalidRequest
from threadline.schemas.common import FunctionName, JsonObject, RequestModel

# OpenAI documents no bound for these; ours keep a hostile body from costing seconds of CPU.
MAX_PARTS = 100
MAX_TEXT = 10_485_760  # the spec's bound for a string input
MAX_OUTPUT = 10_485_760
ItemId = Annotated[str, Field(min_length=1, max_length=64)]
FileId = Annotated[str, Field(min_length=1, max_length=64)]
Detail = Literal["auto", "low", "high"]
ItemStatus = Literal["in_progress", "completed", "incomplete"]


class InputText(RequestModel):
    type: Literal["input_text"]
    text: Annotated[str, Field(max_length=MAX_TEXT)]


class InputImage(RequestModel):
    type: Literal["input_image"]
    detail: Detail = "auto"
    image_url: Annotated[str, Field(min_length=1)] | None = None
    file_id: FileId | None = None


class InputFile(RequestModel):
    type: Literal["input_file"]
    file_id: FileId | None = None
    file_data: str | None = None
    file_url: Annotated[str, Field(min_length=1)] | None = None
    filename: Annotated[str, Field(max_length=512)] | None = None


class OutputText(RequestModel):
    type: Literal["output_text"]
    text: Annotated[str, Field(max_length=MAX_TEXT)]
    annotations: Annotated[list[JsonObject], Field(max_length=1000)] = []
    logprobs: list[JsonObject] | None = None


class Refusal(RequestModel):
    type: Literal["refusal"]
    refusal: str


InputPart = Annotated[InputText | InputImage | InputFile, Field(discriminator="type")]
AnyPart = Annotated[
    InputText | InputImage | InputFile | OutputText | Refusal, Field(discriminator="type")
]


class MessageInput(RequestModel):
    """``{"role", "content"}``: a string, or parts (assistant history uses ``output_text``)."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | Annotated[list[AnyPart], Field(max_length=MAX_PARTS)]
    # An output message sent back as it was received.
    id: ItemId | None = None
    status: ItemStatus | None = None
    phase: Literal["commentary", "final_answer"] | None = None


class FunctionCallInput(RequestModel):
    type: Literal["function_call"]
    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    name: FunctionName
    arguments: Annotated[str, Field(max_length=MAX_OUTPUT)]
    id: ItemId | None = None
    status: ItemStatus | None = None


class FunctionCallOutputInput(RequestModel):
    type: Literal["function_call_output"]
    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    output: (
        Annotated[str, Field(max_length=MAX_OUTPUT)]
        | Annotated[list[InputPart], Field(max_length=MAX_PARTS)]
    )
    id: ItemId | None = None
    status: ItemStatus | None = None


class ItemReference(RequestModel):
    type: Literal["item_reference"]
    id: ItemId


class FileSearchResultInput(RequestModel):
    file_id: str | None = None
    filename: str | None = None
    score: float | None = None
    text: str | None = None
    attributes: dict[str, str | float | bool] | None = None


class FileSearchCallInput(RequestModel):
    type: Literal["file_search_call"]
    id: ItemId
    queries: list[str]
    status: Literal["in_progress", "searching", "completed", "incomplete", "failed"]
    results: list[FileSearchResultInput] | None = None


class CodeInterpreterCallInput(RequestModel):
    type: Literal["code_interpreter_call"]
    id: ItemId
    container_id: str
    code: str | None = None
    outputs: list[JsonObject] | None = None
    status: Literal["in_progress", "completed", "incomplete", "interpreting", "failed"]


class SummaryText(RequestModel):
    type: Literal["summary_text"]
    text: str


class ReasoningInput(RequestModel):
    type: Literal["reasoning"]
    id: ItemId
    summary: list[SummaryText]
    encrypted_content: str | None = None
    content: list[JsonObject] | None = None
    status: ItemStatus | None = None


SUPPORTED_ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "item_reference",
    "file_search_call",
    "code_interpreter_call",
    "reasoning",
)


def _item_type(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type", "message")
        return kind if isinstance(kind, str) else None
    return None


InputItem = Annotated[
    Annotated[MessageInput, Tag("message")]
    | Annotated[FunctionCallInput, Tag("function_call")]
    | Annotated[FunctionCallOutputInput, Tag("function_call_output")]
    | Annotated[ItemReference, Tag("item_reference")]
    | Annotated[FileSearchCallInput, Tag("file_search_call")]
    | Annotated[CodeInterpreterCallInput, Tag("code_interpreter_call")]
    | Annotated[ReasoningInput, Tag("reasoning")],
    Discriminator(_item_type),
]


def supported_values(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _known_item_types(where: str) -> Any:
    """Refuses an item of a type this server does not have, naming it as OpenAI does (a plain
    tag mismatch would read "Input tag … does not match any of the expected tags")."""

    def check(items: Any) -> Any:
        if isinstance(items, list):
            for index, item in enumerate(items):
                kind = _item_type(item)
                if kind is not None and kind not in SUPPORTED_ITEM_TYPES:
                    raise InvalidRequest(
                        f"Invalid value: '{kind}'. Supported values are: "
                        f"{supported_values(SUPPORTED_ITEM_TYPES)}.",
                        param=f"{where}[{index}].type",
                        code="invalid_value",
                    )
        return items

    return BeforeValidator(check)


# Any number of items (a whole history may be sent back), and at most 20 at a time for a
# conversation's own item endpoints (the spec's bound).
MAX_INPUT_ITEMS = 10_000
InputItems = Annotated[
    list[InputItem], Field(max_length=MAX_INPUT_ITEMS), _known_item_types("input")
]
ConversationItems = Annotated[list[InputItem], Field(max_length=20), _known_item_types("items")]
