"""Request bodies for runs, as the spec defines them."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from threadline.schemas.common import (
    FunctionName,
    ReasoningEffort,
    RequestModel,
    ResponseFormat,
    Temperature,
    ToolResources,
    TopP,
    WithMetadata,
)
from threadline.schemas.common import Tool as AnyTool
from threadline.schemas.requests import CreateMessage, CreateThread, Instructions

RunTools = Annotated[list[AnyTool], Field(max_length=20)]
TokenBudget = Annotated[int, Field(ge=256)]


class TruncationStrategy(RequestModel):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _last_messages_needs_a_count(self) -> "TruncationStrategy":
        if self.type == "last_messages" and self.last_messages is None:
            raise ValueError("'last_messages' is required when type is 'last_messages'")
        return self


class NamedFunction(RequestModel):
    name: FunctionName


class NamedFunctionChoice(RequestModel):
    type: Literal["function"]
    function: NamedFunction


class NamedToolChoice(RequestModel):
    type: Literal["file_search", "code_interpreter"]


ToolChoice = (
    Literal["none", "auto", "required"]
    | Annotated[NamedFunctionChoice | NamedToolChoice, Field(discriminator="type")]
)


class RunOptions(WithMetadata):
    """What a run takes besides its thread: shared by create run and create thread and run."""

    assistant_id: Annotated[str, Field(min_length=1, max_length=64)]
    model: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    instructions: Instructions | None = None
    tools: RunTools | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stream: bool | None = None
    max_prompt_tokens: TokenBudget | None = None
    max_completion_tokens: TokenBudget | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None


class CreateRun(RunOptions):
    reasoning_effort: ReasoningEffort | None = None
    additional_instructions: Instructions | None = None
    additional_messages: Annotated[list[CreateMessage], Field(max_length=100)] | None = None


class CreateThreadAndRun(RunOptions):
    thread: CreateThread | None = None
    tool_resources: ToolResources | None = None


class ModifyRun(WithMetadata):
    pass


class ToolOutput(RequestModel):
    tool_call_id: Annotated[str, Field(min_length=1, max_length=64)]
    output: Annotated[str, Field(max_length=512_000)] = ""


class SubmitToolOutputs(RequestModel):
    tool_outputs: Annotated[list[ToolOutput], Field(max_length=128)]
    stream: bool | None = None
