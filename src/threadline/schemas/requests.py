"""Request bodies for assistants, threads and messages, as the spec defines them."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from threadline.schemas.common import (
    CodeInterpreterTool,
    ReasoningEffort,
    RequestModel,
    ResponseFormat,
    Temperature,
    ToolResources,
    Tools,
    TopP,
    WithMetadata,
)

# OpenAI documents no bound for these two; ours keep a hostile body from costing seconds of CPU.
MAX_CONTENT_PARTS = 100
MAX_THREAD_MESSAGES = 1000

Name = Annotated[str, Field(max_length=256)]
Description = Annotated[str, Field(max_length=512)]
Instructions = Annotated[str, Field(max_length=256_000)]


def _null_as_empty(value: object) -> object:
    return [] if value is None else value


# A list field that defaults to empty: null, as clients that send every field send it, is empty.
NullAsEmpty = BeforeValidator(_null_as_empty)


class CreateAssistant(WithMetadata):
    model: Annotated[str, Field(min_length=1, max_length=256)]
    name: Name | None = None
    description: Description | None = None
    instructions: Instructions | None = None
    reasoning_effort: ReasoningEffort | None = None
    tools: Annotated[Tools, NullAsEmpty] = []
    tool_resources: ToolResources | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None


class ModifyAssistant(WithMetadata):
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    name: Name | None = None
    description: Description | None = None
    instructions: Instructions | None = None
    reasoning_effort: ReasoningEffort | None = None
    tools: Tools | None = None
    tool_resources: ToolResources | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None


class TextPart(RequestModel):
    type: Literal["text"]
    text: str


class ImageFileRef(RequestModel):
    file_id: Annotated[str, Field(min_length=1, max_length=64)]
    detail: Literal["auto", "low", "high"] | None = None


class ImageFilePart(RequestModel):
    type: Literal["image_file"]
    image_file: ImageFileRef


class ImageUrlRef(RequestModel):
    url: Annotated[str, Field(min_length=1)]
    detail: Literal["auto", "low", "high"] | None = None


class ImageUrlPart(RequestModel):
    type: Literal["image_url"]
    image_url: ImageUrlRef


ContentPart = Annotated[TextPart | ImageFilePart | ImageUrlPart, Field(discriminator="type")]


class FileSearchTypeOnly(RequestModel):
    type: Literal["file_search"]


AttachmentTool = Annotated[CodeInterpreterTool | FileSearchTypeOnly, Field(discriminator="type")]


class Attachment(RequestModel):
    file_id: Annotated[str, Field(min_length=1, max_length=64)]
    tools: list[AttachmentTool] = []


class CreateMessage(WithMetadata):
    role: Literal["user", "assistant"]
    content: str | Annotated[list[ContentPart], Field(min_length=1, max_length=MAX_CONTENT_PARTS)]
    attachments: Annotated[list[Attachment], Field(max_length=20)] | None = None


class ModifyMessage(WithMetadata):
    pass


class CreateThread(WithMetadata):
    messages: Annotated[
        list[CreateMessage], Field(max_length=MAX_THREAD_MESSAGES), NullAsEmpty
    ] = []
    tool_resources: ToolResources | None = None


class ModifyThread(WithMetadata):
    tool_resources: ToolResources | None = None
