"""Executing one run: the loop of model turns until the model answers, waits for function
outputs, runs out of budget, fails, or is cancelled.

Every state change is stored (fenced by the worker's lease) before its event is published, so a
client that polls never sees less than a client that streams."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from threadline import clock
from threadline.engine.chat_turns import conversation
from threadline.engine.context import build_prompt
from threadline.engine.event_bus import EventBus
from threadline.engine.history import Conversation, load_conversation
from threadline.engine.response_run import ResponseRun
from threadline.engine.run_end import (
    DATABASE_LOST,
    LONGEST_WAIT_WHEN_TOLD_SECONDS,
    STOPPING_RETRY_SECONDS,
    told_without_database,
    write_end,
)
from threadline.engine.run_state import Ending, IncompleteReason
from threadline.engine.run_tools import RunTools
from threadline.engine.scheduling import Claim
from threadline.engine.server_calls import execute_server_calls
from threadline.engine.tools.base import ServerTool
from threadline.engine.turn import TurnRecorder, TurnResult
from threadline.errors import ServiceUnavailable
from threadline.providers.llm.base import ChatRequest, ModelRoute, UpstreamFailure, Usage
from threadline.records.jsonvalue import JsonObject, JsonValue
from threadline.records.runs import RequiredAction, RunRecord, RunUsage
from threadline.schemas.run_objects import StreamEvent, run, run_data
from threadline.storage.database import Database
from threadline.storage.runs import RunChanges, RunRepository

logger = logging.getLogger("threadline.engine")

_runs = RunRepository()

# Room kept free in the context window for the reply when no completion budget is set.
REPLY_RESERVE = 4096


class LeaseLost(Exception):
    """Another attempt owns the run now: this one must stop without writing."""


@dataclass
class EngineContext:
    db: Database
    bus: EventBus
    route: Callable[[str], ModelRoute]  # model name -> provider and limits; raises UpstreamFailure
    owner: str  # this worker's id, for the lease
    # Told each model turn's tokens (the gateway meters them against the run's key).
    record_usage: Callable[[RunRecord, Usage], Awaitable[None]] | None = None
    # The built-in tools this server executes, by run tool type ("file_search", …).
    server_tools: dict[str, ServerTool] = field(default_factory=dict)
    # How long a run's end is retried while the database is unavailable before its stream is
    # told how the run ended (the end is still stored once the database is back).
    end_retry_seconds: float = 30.0


class RunExecution:
    """One attempt at a run, from its claim: the run as the claim left it (``in_progress``, with
    this attempt's lease), and the thread as it was then."""

    def __init__(self, engine: EngineContext, claim: Claim) -> None:
        self._engine = engine
        self._db = engine.db
        record = claim.run
        self.run_id: str = record["id"]
        self.attempt: int = record["attempt"]
        self.cancel_requested = False
        self.started = False  # a task cancelled before its first step never runs execute()
        self._run: RunRecord = record
        self._conversation: Conversation | None = claim.conversation  # for the first turn
        self._recorder: TurnRecorder | None = None
        # The stream was told how the run ended while the database could not take the end:
        # nothing else may end it now (see _end_without_database).
        self._told = False
        # Told once, when this attempt first calls its model (or ends without): see the worker's
        # count of runs still starting.
        self.on_calling: Callable[[], None] | None = None
        # A response's run: its events translated into the response's (hook E3).
        self._response: ResponseRun | None = None

    def _publish(self, event: StreamEvent) -> None:
        self._engine.bus.publish(self.run_id, event)
        if self._response is not None:
            self._response.feed(event)

    async def execute(self) -> None:
        self.started = True
        try:
            if self._run.get("kind") == "response":
                fence = (self._engine.owner, self.attempt)
                self._response = await ResponseRun.load(
                    self._db, self._engine.bus, self._run, fence
                )
                if self._response is not None:
                    self._response.start()
            if self.cancel_requested:  # between its claim and now
                cancelling = run_data({**self._run, "status": "cancelling"})
                self._publish(StreamEvent.of("thread.run.cancelling", cancelling))
                await self._end(Ending("cancelled", clock.now()))
                return
            self._publish(StreamEvent.of("thread.run.in_progress", run_data(self._run)))
            while await self._turn():
                pass
        except LeaseLost:
            logger.warning("run %s: lease lost, attempt %s stops", self.run_id, self.attempt)
            self._engine.bus.end(self.run_id)
            if self._response is not None:
                self._engine.bus.end(self._response.response_id)
        except asyncio.CancelledError:
            # Cancelled by the client, or the server is stopping: either way the run ends now.
            if not self._told:
                await asyncio.shield(self._stopped())
            raise
        except UpstreamFailure as failure:
            await self._fail(failure.code, failure.message)
        except ServiceUnavailable:
            await self._fail(DATABASE_LOST["code"], DATABASE_LOST["message"])
        except Exception:
            logger.exception("run %s failed", self.run_id)
            await self._fail("server_error", "The server had an error while processing the run.")
        finally:
            self.calling()

    def calling(self) -> None:
        """This attempt calls its model now, or never will (idempotent)."""
        told, self.on_calling = self.on_calling, None
        if told is not None:
            told()

    async def _stopped(self) -> None:
        # The server may be going away: a database that cannot take the end is not waited for.
        if self.cancel_requested:
            # The worker, not the cancel request, says so: it reaches the stream wherever the
            # cancel request landed.
            cancelling = run_data({**self._run, "status": "cancelling"})
            self._publish(StreamEvent.of("thread.run.cancelling", cancelling))
            await self._end(Ending("cancelled", clock.now()), keep_trying=False)
        else:
            message = "The run was interrupted because the server stopped."
            await self._fail("server_error", message, keep_trying=False)

    async def _fail(self, code: str, message: str, *, keep_trying: bool = True) -> None:
        if self._told:  # already ended, as far as anyone was told
            logger.error("run %s: %s after its end was told: %s", self.run_id, code, message)
            return
        ending = Ending("failed", clock.now(), last_error={"code": code, "message": message})
        await self._end(ending, keep_trying=keep_trying)

    async def _end(self, ending: Ending, *, keep_trying: bool = True) -> None:
        """Store the run's end (retried while the database is unavailable) and publish it."""
        ending.fence = (self._engine.owner, self.attempt)
        ending.usage = ending.usage or self._run.get("usage")
        recorder = self._recorder
        if recorder is not None:  # the last turn's own writes join the end's unit
            ending.last_writes = recorder.end_writes()
        response = self._response
        if response is not None:  # its last events are kept in the end's unit
            await response.settle()
            ending.in_end_unit = response.in_end_unit
        bound = self._engine.end_retry_seconds if keep_trying else STOPPING_RETRY_SECONDS
        until = time.monotonic() + bound
        try:
            ended = await write_end(self._db, self._run, ending, until)
        except ServiceUnavailable:
            await self._end_without_database(ending, recorder, keep_trying)
            return
        await self._ended(ended, recorder)
        if response is not None and ended is not None:
            response.after_end()
        for event in ending.events:
            self._publish(event)

    async def _end_without_database(
        self, ending: Ending, recorder: TurnRecorder | None, keep_trying: bool
    ) -> None:
        """The database stayed away past the bound: the stream is told how the run ended, from
        what this worker holds (the message with its text), and that end is stored once the
        database is back (``keep_trying``), the text with it."""
        told, events = told_without_database(self._run, ending, recorder)
        self._told = True
        for event in events:
            self._publish(event)
        if not keep_trying:
            logger.error("run %s: the database is unavailable; its end is lost", self.run_id)
            return
        longest = LONGEST_WAIT_WHEN_TOLD_SECONDS
        await self._ended(await write_end(self._db, self._run, told, None, longest), recorder)
        logger.info("run %s: its end is stored, the database is back", self.run_id)

    async def _ended(self, ended: RunRecord | None, recorder: TurnRecorder | None) -> None:
        self._recorder = None
        if ended is not None:
            self._run = ended
            return
        # Another server ended the run (its lease ran out while the database was away from
        # this one): the stream ends, and the text this attempt holds is kept all the same.
        self._engine.bus.end(self.run_id)
        if recorder is not None:
            try:
                await recorder.keep_text()
            except ServiceUnavailable:
                logger.warning("run %s: its text could not be kept", self.run_id)

    async def _update(self, values: RunChanges) -> None:
        ok = await self._db.write(
            _runs.fenced_update, self.run_id, self._engine.owner, self.attempt, values
        )
        if not ok:
            raise LeaseLost()
        self._run.update(values)  # type: ignore[typeddict-item]  # RunChanges: RunRecord's keys

    # -- one model turn -----------------------------------------------------------------

    async def _turn(self) -> bool:
        """Run one model turn; True if the loop should call the model again."""
        run_record = self._run
        route = self._engine.route(run_record["model"])
        loaded, self._conversation = self._conversation, None
        if loaded is None:  # a later turn: the thread has grown since the claim
            loaded = await self._db.read(load_conversation, run_record["thread_id"])
        messages, steps = loaded
        run_tools = RunTools(run_record, self._engine.server_tools, steps)
        tools = run_tools.chat_tools
        used = run_record["usage"] or {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
        }
        completion_left = _left(run_record["max_completion_tokens"], used["completion_tokens"])
        if completion_left is not None and completion_left <= 0:
            await self._end(
                Ending("incomplete", clock.now(), incomplete_reason="max_completion_tokens")
            )
            return False
        window = route.context_window - (completion_left or REPLY_RESERVE)
        prompt_left = _left(run_record["max_prompt_tokens"], used["prompt_tokens"])
        budget = min(window, prompt_left) if prompt_left is not None else window
        truncation = run_record["truncation_strategy"] or {"type": "auto"}
        last = (
            truncation.get("last_messages") if truncation.get("type") == "last_messages" else None
        )
        prompt = build_prompt(
            run_record["instructions"],
            conversation(messages, steps, reasoning_of=run_record["model"]),
            budget=budget,
            last_messages=last,
            tools=tools,
        )
        if prompt.tokens > budget:
            reason: IncompleteReason | None = (
                "max_prompt_tokens" if prompt_left is not None else None
            )
            if reason is None:
                raise UpstreamFailure(
                    "invalid_prompt", "The thread is too long for the model's context window."
                )
            await self._end(Ending("incomplete", clock.now(), incomplete_reason=reason))
            return False

        request = ChatRequest(
            model=run_record["model"],
            messages=prompt.messages,
            tools=tools or None,
            tool_choice=run_tools.chat_tool_choice(run_record["tool_choice"]) if tools else None,
            parallel_tool_calls=run_record["parallel_tool_calls"] if tools else None,
            temperature=run_record["temperature"],
            top_p=run_record["top_p"],
            max_tokens=completion_left,
            response_format=_chat_response_format(run_record["response_format"]),
            reasoning_effort=run_record["reasoning_effort"],
        )
        self._recorder = TurnRecorder(
            self._db,
            run_record,
            self._publish,
            prompt.tokens,
            run_tools,
            response_id=self._response.response_id if self._response is not None else None,
        )
        self.calling()
        async for delta in route.provider.stream(request):
            await self._recorder.feed(delta)
        result = await self._recorder.finish()
        go_on = await self._after_turn(result, run_tools)
        if self._recorder is not None:  # no end took what the turn left to store: store it now
            if self._recorder.last_writes is not None:
                for event in await self._db.write(self._recorder.last_writes):
                    self._publish(event)
            self._recorder = None
        return go_on

    async def _after_turn(self, result: TurnResult, run_tools: RunTools) -> bool:
        if self._engine.record_usage is not None:
            await self._engine.record_usage(self._run, result.usage)
        usage = _add_usage(self._run["usage"], result)
        if result.server_calls:
            assert result.step is not None
            # Stored fenced with the run's usage so far: a lost lease stops here.
            self._run["usage"] = usage
            await self._update({"usage": usage})
            await execute_server_calls(
                self._db,
                self._run,
                result,
                run_tools,
                self._publish,
                step_done=not result.calls,
            )
            if not result.calls:
                return True  # the model reads the tools' answers in its next turn
        if result.calls and self._run.get("kind") == "response":
            # A response that calls functions is complete: its client answers them with
            # function_call_output items in its next response (the step is closed completed,
            # the outputs filled in then), so nothing waits and the thread is released.
            self._run["usage"] = usage
            await self._end(Ending("completed", clock.now(), usage=usage))
            return False
        if result.calls:
            assert result.step is not None
            required: RequiredAction = {
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in result.calls
                    ]
                },
            }
            # The lease is handed back: nothing executes a run that waits for its client.
            await self._update(
                {
                    "status": "requires_action",
                    "required_action": required,
                    "usage": usage,
                    "lease_owner": None,
                    "lease_expires_at": None,
                }
            )
            self._publish(StreamEvent.of("thread.run.requires_action", run(self._run)))
            return False
        self._run["usage"] = usage
        if result.finish_reason == "length":
            await self._end(
                Ending(
                    "incomplete",
                    clock.now(),
                    incomplete_reason="max_completion_tokens",
                    usage=usage,
                )
            )
        else:
            await self._end(Ending("completed", clock.now(), usage=usage))
        return False


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else limit - used


def _add_usage(current: RunUsage | None, result: TurnResult) -> RunUsage:
    prompt = (current["prompt_tokens"] if current else 0) + result.usage.prompt_tokens
    completion = (current["completion_tokens"] if current else 0) + result.usage.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chat_response_format(value: JsonValue) -> JsonObject | None:
    if not isinstance(value, dict) or value.get("type") == "text":
        return None
    return value
