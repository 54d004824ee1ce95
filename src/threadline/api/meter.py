"""What the gateway knows of one request while it runs; endpoints fill in the model and usage."""

from threadline.gateway.limits import Ticket
from threadline.gateway.principal import Principal


class RequestMeter:
    """Made by the gateway middleware for every watched request (``scope["state"]["gateway"]``);
    its request-log line and metrics are written from it when the response has ended."""

    __slots__ = (
        "cache",
        "cost_nanos",
        "error_code",
        "input_tokens",
        "label",
        "model",
        "output_tokens",
        "principal",
        "request_body",
        "response_body",
        "route",
        "started",
        "status",
        "ticket",
    )

    def __init__(self, label: str) -> None:
        self.label = label  # the metrics label: the matched route's template
        self.route = label  # the matched route's template, whatever the label becomes
        self.principal: Principal | None = None
        self.ticket: Ticket | None = None
        self.model: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cost_nanos: int | None = None
        self.status = 500
        self.started = False
        self.error_code: str | None = None
        # "hit" or "miss" for a key whose answers are cached (``x-threadline-cache``), else None.
        self.cache: str | None = None
        self.request_body: bytearray | None = None
        self.response_body: bytearray | None = None
