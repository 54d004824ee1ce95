"""Executing one run: the loop of model turns until the model answers, waits for function
outputs, runs out of budget, fails, or is cancelled.

Every state change is stored (fenced by the worker's lease) before its event is published, so a
client that polls never sees less than a client that streams."""

import asyncio
import logging

from threadline import clock
from threadline.engine.chat_turns import conversation
from threadline.engine.context import build_prompt, prompt_limits
from threadline.engine.history import load_conversation
from threadline.engine.response_run import ResponseRun
from threadline.engine.run_attempt import LeaseLost, RunAttempt
from threadline.engine.run_end import DATABASE_LOST
from threadline.engine.run_state import Ending, IncompleteReason
from threadline.engine.run_tools import RunTools
from threadline.engine.server_calls import execute_server_calls
from threadline.engine.turn import TurnRecorder, TurnResult
from threadline.errors import ServiceUnavailable
from threadline.providers.llm.base import ChatRequest, UpstreamFailure
from threadline.records.jsonvalue import JsonObject, JsonValue
from threadline.records.runs import RequiredAction, RunUsage
from threadline.schemas.run_objects import StreamEvent, run, run_data
from threadline.telemetry import genai

logger = logging.getLogger("threadline.engine")


class RunExecution(RunAttempt):
    """The loop of model turns of one attempt at a run (see ``RunAttempt``)."""

    async def execute(self) -> None:
        """The attempt, within its span (when tracing is on): a child of the request that
        queued the run, its model and tool calls under it."""
        tracer = self._engine.tracer
        run = self._run
        kind = "response" if run.get("kind") == "response" else "run"
        span = genai.start_run(
            tracer,
            kind=kind,
            run_id=self.run_id,
            thread_id=run["thread_id"],
            assistant_id=run.get("assistant_id"),
            model=run["model"],
            project=run["project_id"],
            parent=self.trace_parent,
        )
        try:
            with tracer.activate(span):
                await self._execute()
        finally:
            ended = self._run
            usage, error = ended.get("usage"), ended.get("last_error")
            genai.end_run(
                span,
                status=ended["status"],
                input_tokens=usage["prompt_tokens"] if usage else None,
                output_tokens=usage["completion_tokens"] if usage else None,
                error_code=error["code"] if error else None,
                response_id=self._response.response_id if self._response is not None else None,
            )

    async def _execute(self) -> None:
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

    # -- one model turn -----------------------------------------------------------------

    async def _turn(self) -> bool:
        """Run one model turn; True if the loop should call the model again."""
        run_record = self._run
        route = self._engine.route(run_record["model"])
        limits = prompt_limits(run_record, route.context_window)
        loaded, self._conversation = self._conversation, None
        if loaded is None:  # a later turn: the thread has grown since the claim
            loaded = await self._db.read(
                load_conversation, run_record["thread_id"], limits.needed, run_id=self.run_id
            )
        messages, steps = loaded
        run_tools = RunTools(run_record, self._engine.server_tools, steps)
        tools = run_tools.chat_tools
        completion_left = limits.completion_left
        if completion_left is not None and completion_left <= 0:
            await self._end(
                Ending("incomplete", clock.now(), incomplete_reason="max_completion_tokens")
            )
            return False
        budget = limits.budget
        prompt = build_prompt(
            run_record["instructions"],
            conversation(messages, steps, reasoning_of=run_record["model"]),
            budget=budget,
            last_messages=limits.last_messages,
            tools=tools,
        )
        if prompt.tokens > budget:
            reason: IncompleteReason | None = (
                "max_prompt_tokens" if limits.prompt_left is not None else None
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
                tracer=self._engine.tracer,
            )
            if not result.calls:
                return True  # the model reads the tools' answers in its next turn
        if result.calls and self._engine.tracer.enabled:  # handed to the client to execute
            genai.function_calls_requested(
                self._engine.tracer, [(c.name, c.id, c.arguments) for c in result.calls]
            )
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
