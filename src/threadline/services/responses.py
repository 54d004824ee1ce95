"""Responses as the API sees them: create, retrieve, delete, cancel, input items, input token
counts. A response is a run (``kind`` ``response``) that the run engine executes like any
other — leases, workers, cancel, expiry, the tool loop — on a hidden thread, plus the echo of
its request (``responses``). The units of work that read, delete and forget a stored response are
``stored_responses.py``'s. See docs/responses-design.md."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from threadline import clock, ids
from threadline.engine.event_bus import Subscription
from threadline.engine.response_run import ResponseEvent, opening_events
from threadline.engine.scheduling import Claim, Scheduler
from threadline.errors import InvalidRequest, NotFound
from threadline.records.response_rows import StoredResponse
from threadline.records.responses import ResponseRecord, ResponseUsed
from threadline.records.runs import RunRecord
from threadline.schemas.item_mapping import usage
from threadline.schemas.response_objects import ItemList, item_list
from threadline.schemas.responses import CountInputTokens, CreateResponse
from threadline.services.conversation_items import container_of, entry_item
from threadline.services.input_files import InputFileReader
from threadline.services.response_chain import (
    continue_chain,
    insert_fork_steps,
    new_chain_thread,
    previous_response,
)
from threadline.services.response_compile import (
    ResponseIds,
    run_for_response,
    run_tools,
    stored_response,
)
from threadline.services.response_conversation import take_conversation
from threadline.services.response_events import ResponseEvents
from threadline.services.response_input import (
    CompiledInput,
    compile_input,
    insert_input,
    settle,
)
from threadline.services.response_prompt import PromptSizer, prompt_tokens, refuse_over_window
from threadline.services.response_view import ENDED
from threadline.services.run_snapshot import Creator
from threadline.services.runs import RunService
from threadline.services.stored_responses import (
    delete_response,
    find_stored,
    forget_response,
    read_response,
)
from threadline.services.tool_gate import ToolGate
from threadline.storage.database import Connection, Database
from threadline.storage.pagination import PageRequest
from threadline.storage.responses import ResponseRepository, input_entries
from threadline.storage.runs import RunRepository

_responses = ResponseRepository()
_runs = RunRepository()

# How often a request waiting for a response's end looks at its run when no event came (the
# run may execute on another replica, whose events this one does not hear).
_WAIT_POLL_SECONDS = 1.0
# How long a cancel waits for the response's run to stop before it answers (``in_progress``).
_CANCEL_WAIT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class CreatedResponse:
    """A response just queued: its echo and run, and (unless it runs in the background
    unwatched) the subscription to its run's events, taken before it was queued."""

    stored: StoredResponse
    run: RunRecord
    subscription: Subscription | None


class ResponseService:
    def __init__(
        self,
        database: Database,
        scheduler: Scheduler,
        tools: ToolGate,
        runs: RunService,
        sizer: PromptSizer,
        expiry_seconds: int = 600,
        input_files: InputFileReader | None = None,
    ) -> None:
        self._db = database
        self._scheduler = scheduler
        self._tools = tools
        self._runs = runs
        self._sizer = sizer
        self._expiry_seconds = expiry_seconds
        self._input_files = input_files

    async def create(
        self, project_id: str, request: CreateResponse, creator: Creator | None = None
    ) -> CreatedResponse:
        self._tools.check(run_tools(request)[0])
        now = clock.now()
        # The input's rows first, then the run: ids sort by creation, and what sorts after the
        # run on its thread is its output.
        compiled = compile_input(project_id, request, now)
        if self._input_files is not None:
            await self._input_files.read_into(project_id, compiled.messages)
        if (request.truncation or "disabled") == "disabled":
            await self._refuse_over_window(project_id, request, compiled)
        made_ids = (ids.new_id("resp_"), ids.run_id())
        # A stream hears the response's events (``engine.response_run``); a synchronous
        # answer waits for its run's end; a background response is answered at once.
        subscription = None
        if request.stream:
            subscription = self._scheduler.subscribe(made_ids[0])
        elif not request.background:
            subscription = self._scheduler.subscribe(made_ids[1])
        try:
            stored, run, claim = await self._db.write(
                self._create, project_id, request, made_ids, compiled, now, creator
            )
            await self._scheduler.dispatch(run["id"], claim)
        except BaseException:
            if subscription is not None:
                subscription.close()
            raise
        return CreatedResponse(stored, run, subscription)

    def _create(
        self,
        connection: Connection,
        project_id: str,
        request: CreateResponse,
        made_ids: tuple[str, str],
        compiled: CompiledInput,
        now: int,
        creator: Creator | None,
    ) -> tuple[StoredResponse, RunRecord, Claim | None]:
        response_id, run_id = made_ids
        fork_steps = None
        new_thread = False
        conversation_id = request.conversation_id
        if request.previous_response_id is not None:
            previous = previous_response(connection, project_id, request.previous_response_id)
            place = continue_chain(connection, previous, run_id, now)
            thread_id, fork_steps = place.thread_id, place
        elif conversation_id is not None:
            take_conversation(connection, project_id, conversation_id, run_id)
            thread_id = conversation_id
        else:
            thread_id = new_chain_thread(connection, project_id, run_id, now)
            new_thread = True
        made = ResponseIds(response_id, run_id, thread_id)
        compiled.place(thread_id, response_id)
        settle(connection, project_id, thread_id, compiled, new_thread=new_thread)
        run = run_for_response(project_id, request, made, now, self._expiry_seconds, creator)
        run.update(self._scheduler.reservation())
        stored = stored_response(project_id, request, made, now)
        rows = compiled.rows
        if rows:
            stored["input_first"] = rows[0]["id"]
            stored["input_last"] = rows[-1]["id"]
        insert_input(connection, compiled)
        _runs.insert(connection, run)
        if fork_steps is not None:
            insert_fork_steps(connection, fork_steps)
        _responses.insert(connection, stored)
        return stored, run, self._scheduler.claim(connection, run_id)

    async def _refuse_over_window(
        self, project_id: str, request: CreateResponse, compiled: CompiledInput
    ) -> None:
        """Without truncation, an input over the model's window is refused now (the engine
        would otherwise drop its oldest turns). Its messages are stored as counted, so the
        engine's cache may keep their turns."""
        window = self._sizer.window(request.model, request.max_output_tokens)
        server_tools = self._sizer.server_tools
        if request.previous_response_id is None and request.conversation_id is None:
            tokens = prompt_tokens(None, project_id, request, compiled, server_tools, remember=True)
        else:
            tokens = await self._db.read(
                prompt_tokens,
                project_id,
                request,
                compiled,
                server_tools,
                remember=True,
                beyond=window,
            )
        refuse_over_window(tokens, window)

    async def wait(self, created: CreatedResponse) -> ResponseRecord:
        """The response once its run has ended (``created`` was subscribed to it)."""
        subscription = created.subscription
        assert subscription is not None
        stored = created.stored
        async for _ in subscription.batches(_WAIT_POLL_SECONDS):
            run = await self._db.read(_runs.get_by_id, stored["run_id"])
            if run is None or run["status"] in ENDED:
                break
        subscription.close()
        return await self.finish(stored)

    async def finish(self, stored: StoredResponse) -> ResponseRecord:
        """The ended response as it is answered; a response not stored is forgotten now."""
        include = frozenset(stored["include"])
        record = await self._db.read(
            read_response, stored["project_id"], stored["id"], include, True
        )
        if not stored["store"]:
            await self._db.write(forget_response, stored)
        return record

    def events(
        self,
        created: CreatedResponse,
        after: int = -1,
        *,
        on_usage: Callable[[ResponseUsed], None] | None = None,
    ) -> ResponseEvents:
        """The stream of a response just created (``stream: true``). When a stream that is not
        kept ends, what the response used goes to ``on_usage`` (the request log's line), and a
        response not stored is forgotten."""
        assert created.subscription is not None
        stored = created.stored
        if stored["background"]:
            return ResponseEvents(
                created.subscription, stored, kept=(self._db, self._scheduler), after=after
            )

        async def ended() -> None:
            # Its run row says all the request log needs: not the whole response read back.
            run = await self._db.read(_runs.get_by_id, stored["run_id"])
            if not stored["store"]:
                await self._db.write(forget_response, stored)
            if on_usage is not None and run is not None:
                over = run["status"] in ENDED
                on_usage(ResponseUsed(run["model"], usage(run["usage"]) if over else None))

        return ResponseEvents(created.subscription, stored, on_end=ended, after=after)

    @staticmethod
    def opening(created: CreatedResponse) -> list[ResponseEvent]:
        """The first events of a response just created, for its creating request to send at
        once (the client hears of its response before a worker takes it, as with runs); the
        stream from ``events(created, after=len(opening) - 1)`` goes on after them."""
        return opening_events(created.stored, created.run)

    async def resume(self, project_id: str, response_id: str, after: int) -> ResponseEvents:
        """A background response's stream again, from the event after ``after`` (-1: all)."""
        stored = await self._db.read(find_stored, project_id, response_id)
        if not stored["background"]:
            raise InvalidRequest(
                "This response cannot be streamed because it was not created with background=true.",
                param="stream",
            )
        subscription = self._scheduler.subscribe(response_id)  # before reading what is kept
        return ResponseEvents(subscription, stored, kept=(self._db, self._scheduler), after=after)

    async def retrieve(
        self, project_id: str, response_id: str, include: frozenset[str] = frozenset()
    ) -> ResponseRecord:
        return await self._db.read(read_response, project_id, response_id, include, False)

    async def delete(self, project_id: str, response_id: str) -> None:
        if not await self._db.write(delete_response, project_id, response_id):
            raise NotFound(f"Response with id '{response_id}' not found.")

    async def cancel(self, project_id: str, response_id: str) -> ResponseRecord:
        stored = await self._db.read(find_stored, project_id, response_id)
        if not stored["background"]:
            raise InvalidRequest("Cannot cancel a synchronous response.")
        run = await self._db.read(_runs.get_by_id, stored["run_id"])
        if run is not None and run["status"] not in ENDED:
            # Answered once the run has stopped (at once when it executes here; a replica
            # executing it sees the cancel at its next lease renewal), ``cancelled``.
            subscription = self._scheduler.subscribe(stored["run_id"])
            try:
                if run["status"] != "cancelling":
                    await self._runs.cancel(project_id, stored["thread_id"], stored["run_id"])
                async with asyncio.timeout(_CANCEL_WAIT_SECONDS):
                    async for _ in subscription.batches(_WAIT_POLL_SECONDS / 4):
                        run = await self._db.read(_runs.get_by_id, stored["run_id"])
                        if run is None or run["status"] in ENDED:
                            break
            except TimeoutError:
                pass
            finally:
                subscription.close()
        return await self.retrieve(project_id, response_id, frozenset(stored["include"]))

    async def input_items(self, project_id: str, response_id: str, page: PageRequest) -> ItemList:
        stored = await self._db.read(find_stored, project_id, response_id)
        found = await self._db.read(input_entries, stored, page)
        container = container_of(stored["thread_id"])
        return item_list([entry_item(e, container) for e in found.items], found.has_more)

    async def count_input_tokens(self, project_id: str, request: CountInputTokens) -> int:
        """The prompt's tokens as the engine counts them: the chain's context, the input,
        the instructions and the tools."""
        compiled = compile_input(project_id, request, clock.now())
        if self._input_files is not None:
            await self._input_files.read_into(project_id, compiled.messages)
        compiled.place("")
        server_tools = self._sizer.server_tools
        return await self._db.read(
            prompt_tokens, project_id, request, compiled, server_tools, remember=False
        )
