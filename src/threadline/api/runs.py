"""/v1/threads/runs, /v1/threads/{thread_id}/runs and their steps.

``stream: true`` answers with server-sent events: the request's own events first (thread and run
created, queued), then the worker's, until the run finishes or waits for tool outputs. The
subscription is taken before the run exists, so no event can be missed."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from threadline import ids
from threadline.api.deps import CurrentPrincipal, Page, State, json_body
from threadline.api.responses import model_response
from threadline.api.sse import event_stream
from threadline.schemas.run_objects import FINISHED_RUN_STATUSES, StreamEvent
from threadline.schemas.runs import CreateRun, CreateThreadAndRun, ModifyRun, SubmitToolOutputs

router = APIRouter()

# How often the SDK pollers should look again at a run that is still going.
POLL_AFTER_MS = "250"


@router.post("/threads/runs")
async def create_thread_and_run(
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateThreadAndRun, Depends(json_body(CreateThreadAndRun))],
) -> Response:
    run_id = ids.run_id()
    subscription = state.bus.subscribe(run_id) if body.stream else None
    try:
        thread, run = await state.runs.create_thread_and_run(principal.project_id, body, run_id)
    except BaseException:
        if subscription is not None:
            subscription.close()
        raise
    if subscription is None:
        return model_response(run)
    first = [
        StreamEvent.of("thread.created", thread),
        StreamEvent.of("thread.run.created", run),
        StreamEvent.of("thread.run.queued", run),
    ]
    return event_stream(first, subscription)


@router.post("/threads/{thread_id}/runs")
async def create_run(
    thread_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateRun, Depends(json_body(CreateRun))],
) -> Response:
    run_id = ids.run_id()
    subscription = state.bus.subscribe(run_id) if body.stream else None
    try:
        run = await state.runs.create(principal.project_id, thread_id, body, run_id)
    except BaseException:
        if subscription is not None:
            subscription.close()
        raise
    if subscription is None:
        return model_response(run)
    first = [StreamEvent.of("thread.run.created", run), StreamEvent.of("thread.run.queued", run)]
    return event_stream(first, subscription)


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: str, state: State, principal: CurrentPrincipal, page: Page
) -> Response:
    return model_response(await state.runs.list(principal.project_id, thread_id, page))


@router.get("/threads/{thread_id}/runs/{run_id}")
async def retrieve_run(
    thread_id: str, run_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    run = await state.runs.retrieve(principal.project_id, thread_id, run_id)
    going = run.status not in FINISHED_RUN_STATUSES and run.status != "requires_action"
    return model_response(run, headers={"openai-poll-after-ms": POLL_AFTER_MS} if going else None)


@router.post("/threads/{thread_id}/runs/{run_id}")
async def modify_run(
    thread_id: str,
    run_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[ModifyRun, Depends(json_body(ModifyRun))],
) -> Response:
    return model_response(await state.runs.modify(principal.project_id, thread_id, run_id, body))


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: str, run_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(await state.runs.cancel(principal.project_id, thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(
    thread_id: str,
    run_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[SubmitToolOutputs, Depends(json_body(SubmitToolOutputs))],
) -> Response:
    subscription = state.bus.subscribe(run_id) if body.stream else None
    try:
        submitted = await state.runs.submit_tool_outputs(
            principal.project_id, thread_id, run_id, body
        )
    except BaseException:
        if subscription is not None:
            subscription.close()
        raise
    if subscription is None:
        return model_response(submitted.run)
    first = [
        StreamEvent.of("thread.run.step.completed", submitted.step),
        StreamEvent.of("thread.run.queued", submitted.run),
    ]
    return event_stream(first, subscription)


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
async def list_run_steps(
    thread_id: str, run_id: str, state: State, principal: CurrentPrincipal, page: Page
) -> Response:
    return model_response(await state.steps.list(principal.project_id, thread_id, run_id, page))


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_run_step(
    thread_id: str, run_id: str, step_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    return model_response(
        await state.steps.retrieve(principal.project_id, thread_id, run_id, step_id)
    )
