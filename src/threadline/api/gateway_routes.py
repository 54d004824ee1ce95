"""What the gateway does with a request, decided from the route it matches: whether it makes
the model work (metered), whether it creates a thread, and whether it belongs to the
Assistants, Files and Vector Stores APIs (forwarded for Assistants pass-through projects) or
to the Responses and Conversations APIs (forwarded too when that project's provider serves them
natively).

Each is declared here by method and full route template, and ``RouteTable`` attaches the
classes to the application's routes once, in the router's order: a request is matched as the
router matches it (the first full match, else the first route of that path with another method),
and the template it matched is its metrics label. A template declared here that no route has
is an error at start-up, so a renamed route cannot silently stop being metered."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from re import Pattern

from starlette.routing import BaseRoute, compile_path

try:  # FastAPI 0.165 keeps included routers whole, their routes without the prefixes
    from fastapi.routing import iter_route_contexts
except ImportError:  # earlier versions copy included routes, with their full paths

    def iter_route_contexts(routes: Sequence[BaseRoute]) -> Iterable[BaseRoute]:  # type: ignore[misc]
        return routes


# Requests that make the model work: their tokens and cost are counted, so they are admitted
# only with room in the tokens-per-minute windows and an unspent budget.
METERED = frozenset(
    {
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/threads/runs"),
        ("POST", "/v1/threads/{thread_id}/runs"),
        ("POST", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"),
        ("POST", "/v1/responses"),
    }
)
# Successful requests that create a thread (counted for the project's usage).
# A conversation is a thread: creating one is charged as one.
CREATES_THREAD = frozenset(
    {("POST", "/v1/threads"), ("POST", "/v1/threads/runs"), ("POST", "/v1/conversations")}
)
RUN_CREATION = frozenset(
    {
        ("POST", "/v1/threads/runs"),
        ("POST", "/v1/threads/{thread_id}/runs"),
        ("POST", "/v1/responses"),
    }
)
# Requests whose body may name a model (held to the key's models when forwarded).
MODEL_IN_BODY = RUN_CREATION | {
    ("POST", "/v1/assistants"),
    ("POST", "/v1/assistants/{assistant_id}"),
}
# The Assistants, Files and Vector Stores APIs: these templates and everything under them.
ASSISTANTS_API = ("/v1/assistants", "/v1/threads", "/v1/files", "/v1/vector_stores", "/v1/uploads")
# The Responses and Conversations APIs: forwarded for pass-through projects whose provider
# serves them natively (``responses: native`` in THREADLINE_CONFIG).
RESPONSES_API = ("/v1/responses", "/v1/conversations")
# Parts of those APIs this server does not serve itself: routes only so that pass-through
# projects have them forwarded (anyone else gets the usual 404).
PASSTHROUGH_ONLY = (
    "/v1/uploads",
    "/v1/uploads/{upload_id}/parts",
    "/v1/uploads/{upload_id}/complete",
    "/v1/uploads/{upload_id}/cancel",
)


@dataclass(frozen=True, slots=True)
class RouteClass:
    template: str  # the full path template, e.g. /v1/threads/{thread_id}/runs
    metered: bool = False
    creates_thread: bool = False
    assistants_api: bool = False
    creates_run: bool = False
    model_in_body: bool = False
    answers_runs: bool = False  # its answers may be runs (read for their usage when forwarded)
    responses_api: bool = False
    answers_responses: bool = False  # its answers may be responses (read for their usage)


UNMATCHED = RouteClass("unmatched")


@dataclass(frozen=True, slots=True)
class _Entry:
    pattern: Pattern[str]
    methods: frozenset[str] | None  # None: any method
    route: RouteClass


class RouteTable:
    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._entries = [_entry(template, methods) for template, methods in _templates(routes)]
        declared = {template for _, template in METERED | CREATES_THREAD | MODEL_IN_BODY}
        missing = declared - {entry.route.template for entry in self._entries}
        if missing:
            raise ValueError(f"gateway route classes name routes that do not exist: {missing}")

    def match(self, method: str, path: str) -> RouteClass:
        partial: RouteClass | None = None
        for entry in self._entries:
            if entry.pattern.match(path) is not None:
                if entry.methods is None or method in entry.methods:
                    return entry.route
                partial = partial or entry.route
        return partial or UNMATCHED

    def classes(self) -> Iterator[RouteClass]:
        return (entry.route for entry in self._entries)


def _entry(template: str, methods: frozenset[str] | None) -> _Entry:
    pairs = {(method, template) for method in methods or ()}
    route = RouteClass(
        template,
        metered=bool(pairs & METERED),
        creates_thread=bool(pairs & CREATES_THREAD),
        assistants_api=_under(template, ASSISTANTS_API),
        creates_run=bool(pairs & RUN_CREATION),
        model_in_body=bool(pairs & MODEL_IN_BODY),
        answers_runs="/runs" in template,
        responses_api=_under(template, RESPONSES_API),
        answers_responses=_under(template, RESPONSES_API[:1]),
    )
    return _Entry(compile_path(template)[0], methods, route)


def _under(template: str, roots: tuple[str, ...]) -> bool:
    return any(template == root or template.startswith(root + "/") for root in roots)


def _templates(routes: Sequence[BaseRoute]) -> Iterable[tuple[str, frozenset[str] | None]]:
    """Every route's full template and methods, in the router's order."""
    for context in iter_route_contexts(routes):
        template = getattr(context, "path", None)
        if template:
            methods = getattr(context, "methods", None)
            yield template, frozenset(methods) if methods else None
