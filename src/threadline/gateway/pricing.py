"""Prices: usage → US dollars.

Money is counted in integer nano-dollars (1e-9 USD) everywhere: sums of many small costs stay
exact on every database and in Redis, and a decimal string is made only for people
(``x-threadline-cost``, ``/admin/usage``).

Token prices are USD per million tokens. A model configured in ``THREADLINE_CONFIG`` with
``prices`` uses those; otherwise the table below, matched on the model name, then on its
upstream id, then on the longest known prefix (``gpt-4o-2024-08-06`` is priced as ``gpt-4o``).
An unknown model costs 0 (and says so: ``priced`` is False). Charges beyond tokens are the
Assistants ones: code_interpreter sessions, vector-store storage per GB-day beyond a free
allowance, and an optional fee per thread."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

NANOS_PER_USD = 1_000_000_000

# USD per million tokens: (input, output). Public list prices of common models (2026).
DEFAULT_TOKEN_PRICES: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4": (30.0, 60.0),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.0, 60.0),
    "o1-mini": (1.10, 4.40),
    "o3": (2.0, 8.0),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}


@dataclass(frozen=True, slots=True)
class TokenPrice:
    input_per_million: float
    output_per_million: float


@dataclass(frozen=True, slots=True)
class Charges:
    """What the Assistants API billed beyond tokens, in USD (defaults: OpenAI's last prices)."""

    code_interpreter_session: float = 0.03
    vector_store_gb_day: float = 0.10
    vector_store_free_gb: float = 1.0
    thread: float = 0.0


# Meters: what a usage row counts.
CHAT = "chat.completions"
MESSAGES = "messages"  # Anthropic's Messages API (/v1/messages)
EMBEDDINGS = "embeddings"
RUNS = "runs"
RESPONSES = "responses"  # the model turns of runs that execute responses
CODE_INTERPRETER_SESSIONS = "code_interpreter.sessions"
VECTOR_STORE_GB_DAYS = "vector_stores.gb_days"
THREADS = "threads"


class PriceTable:
    def __init__(
        self,
        configured: dict[str, TokenPrice] | None = None,
        *,
        upstream_ids: Callable[[str], str | None] | None = None,
        charges: Charges | None = None,
    ) -> None:
        self._configured = configured or {}
        self._upstream_ids = upstream_ids or (lambda _name: None)
        self.charges = charges or Charges()
        self._cache: dict[str, TokenPrice | None] = {}

    def price(self, model: str) -> TokenPrice | None:
        if model in self._cache:
            return self._cache[model]
        found = self._configured.get(model) or _default_price(model)
        if found is None:
            upstream = self._upstream_ids(model)
            if upstream and upstream != model:
                found = _default_price(upstream)
        if len(self._cache) < 10_000:
            self._cache[model] = found
        return found

    def token_cost(self, model: str, input_tokens: int, output_tokens: int) -> int:
        """Nano-USD for the tokens (0 for a model without a price)."""
        price = self.price(model)
        if price is None:
            return 0
        # nanos = tokens * (USD per 1e6 tokens) * 1e9 / 1e6 = tokens * price * 1000
        return round(
            input_tokens * price.input_per_million * 1000
            + output_tokens * price.output_per_million * 1000
        )

    def charge_cost(self, meter: str, quantity: float) -> int:
        """Nano-USD for a charge beyond tokens: ``quantity`` sessions, GB-days (already net of
        the free allowance, see ``billable_gb_days``) or threads."""
        unit = {
            CODE_INTERPRETER_SESSIONS: self.charges.code_interpreter_session,
            VECTOR_STORE_GB_DAYS: self.charges.vector_store_gb_day,
            THREADS: self.charges.thread,
        }.get(meter)
        if unit is None:
            raise ValueError(f"unknown meter {meter!r}")
        return round(quantity * unit * NANOS_PER_USD)

    def billable_gb_days(self, stored_gb: float, days: float) -> float:
        """A project's vector-store storage over ``days``, less the free allowance per day."""
        return max(stored_gb - self.charges.vector_store_free_gb, 0.0) * days


def _default_price(model: str) -> TokenPrice | None:
    exact = DEFAULT_TOKEN_PRICES.get(model)
    if exact is None:
        # Dated snapshots and fine-tunes: the longest known name the model starts with.
        prefixes = [name for name in DEFAULT_TOKEN_PRICES if model.startswith(name + "-")]
        if not prefixes:
            return None
        exact = DEFAULT_TOKEN_PRICES[max(prefixes, key=len)]
    return TokenPrice(*exact)


def usd_to_nanos(value: str | int | float | Decimal) -> int:
    """An amount of USD as nano-dollars; raises ``ValueError`` for anything not a finite,
    non-negative number."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a non-negative number")
    return int((amount * NANOS_PER_USD).to_integral_value(rounding=ROUND_HALF_UP))


def format_usd(nanos: int) -> str:
    """Nano-dollars as a plain decimal string without trailing zeros: ``0.000125``."""
    whole, fraction = divmod(abs(nanos), NANOS_PER_USD)
    text = f"{whole}.{fraction:09d}".rstrip("0").rstrip(".")
    return f"-{text}" if nanos < 0 else text
