"""What a response that has ended cost, told to the gateway's request meter: its request-log
line shows the model, the tokens and the cost. The tokens themselves were billed turn by turn
as the run executed (``app_parts._RunMeter``, meter ``responses``): this only reports them."""

from starlette.types import Scope

from threadline.api.meter import RequestMeter
from threadline.gateway.pricing import PriceTable
from threadline.records.responses import ResponseUsed

COST_HEADER = "x-threadline-cost"


def meter_response(scope: Scope, prices: PriceTable, used: ResponseUsed) -> int | None:
    """The response's cost in nano-USD (None before it has usage), also set on the request's
    meter when the gateway watches the request."""
    usage = used.usage
    if usage is None:
        return None
    model = used.model
    input_tokens, output_tokens = usage["input_tokens"], usage["output_tokens"]
    cost = prices.token_cost(model, input_tokens, output_tokens)
    meter: RequestMeter | None = scope.get("state", {}).get("gateway")
    if meter is not None:
        meter.model = model
        meter.input_tokens, meter.output_tokens = input_tokens, output_tokens
        meter.cost_nanos = cost
    return cost
