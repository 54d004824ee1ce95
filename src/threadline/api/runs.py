"""/v1/threads/runs, /v1/threads/{thread_id}/runs and their steps.

``stream: true`` answers with server-sent events: the request's own events first (thread and run
created, queued), then the worker's, until the run finishes or waits for tool outputs (the
service subscribes before the run is queued, so no event can be missed)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from threadline.api.deps import CurrentPrincipal, Include, Page, State, json_body
from threadline.api.responses import model_response
from threadline.api.sse import event_stream
from threadline.gateway.principal import Principal
from threadline.schemas.run_objects import FINISHED_RUN_STATUSES
from threadline.schemas.runs import CreateRun, CreateThreadAndRun, ModifyRun, SubmitToolOutputs
from threadline.services.run_snapshot import Creator
from threadline.services.runs import QueuedRun

router = APIRouter()

# How often the SDK pollers should look again at a run that is still going.
POLL_AFTER_MS = "250"


def _answer(queued: QueuedRun) -> Response:
    """The run's JSON object, or, for a stream, its events."""
    if queued.subscription is None:
        return model_response(queued.run)
    return event_stream(list(queued.first_events), queued.subscription)


@router.post("/threads/runs")
async def create_thread_and_run(
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateThreadAndRun, Depends(json_body(CreateThreadAndRun))],
) -> Response:
    creator = _creator(principal)
    return _answer(await state.runs.create_thread_and_run(principal.project_id, body, creator))


@router.post("/threads/{thread_id}/runs")
async def create_run(
    thread_id: str,
    state: State,
    principal: CurrentPrincipal,
    body: Annotated[CreateRun, Depends(json_body(CreateRun))],
) -> Response:
    creator = _creator(principal)
    return _answer(await state.runs.create(principal.project_id, thread_id, body, creator))


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
    project_id = principal.project_id
    return _answer(await state.runs.submit_tool_outputs(project_id, thread_id, run_id, body))


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
async def list_run_steps(
    thread_id: str,
    run_id: str,
    state: State,
    principal: CurrentPrincipal,
    page: Page,
    include: Include,
) -> Response:
    steps = await state.steps.list(principal.project_id, thread_id, run_id, page, include)
    return model_response(steps)


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_run_step(
    thread_id: str,
    run_id: str,
    step_id: str,
    state: State,
    principal: CurrentPrincipal,
    include: Include,
) -> Response:
    step = await state.steps.retrieve(principal.project_id, thread_id, run_id, step_id, include)
    return model_response(step)


def _creator(principal: Principal) -> Creator:
    return Creator(key_id=principal.key_id, models=principal.models)
