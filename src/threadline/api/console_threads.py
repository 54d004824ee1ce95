"""``GET /console/api/threads``: a project's threads and conversations, newest first, for the
console's Threads page (the OpenAI API has no thread listing).

A project key lists its project's threads. The master key belongs to no project: the console
works in one through a key of that project, which it opens when the master picks a project."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AfterValidator

from threadline.api.console_api import console_viewer
from threadline.api.deps import Page, State
from threadline.api.responses import model_response
from threadline.errors import InvalidRequest, PermissionDenied

router = APIRouter(prefix="/console/api", include_in_schema=False)

# Longer than any id or metadata value (512 characters) could match.
MAX_SEARCH_CHARS = 512


def _search(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if len(text) > MAX_SEARCH_CHARS:
        raise InvalidRequest(
            f"Invalid 'q': at most {MAX_SEARCH_CHARS} characters, got {len(text)}.", param="q"
        )
    return text or None


Search = Annotated[str | None, Query(), AfterValidator(_search)]


@router.get("/threads")
async def list_threads(request: Request, state: State, page: Page, q: Search = None) -> Response:
    """``limit``, ``order`` (default newest first), ``after``, ``before`` as in OpenAI's lists;
    ``q``: an id or its beginning, or text in a metadata key or value."""
    viewer = await console_viewer(request, state)
    if viewer is None:
        raise PermissionDenied(
            "The master key belongs to no project: pick a project in the console (it opens a "
            "key of that project), or list threads with a project key."
        )
    return model_response(await state.console_threads.list(viewer.project_id, page, q))
