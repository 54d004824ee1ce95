"""The gateway's pure parts: counters, limit headers, budget periods, usage read from bytes,
prices, client addresses, body redaction, principals."""

import asyncio
import time
from decimal import Decimal

import orjson
import pytest

from threadline.gateway.budget_periods import budget_period
from threadline.gateway.client_ip import ClientAddresses
from threadline.gateway.counters import (
    ADMITTED,
    BUDGET_SPENT,
    MISSING,
    SLOTS_FULL,
    WINDOW_FULL,
    WINDOW_MS,
    Check,
    MemoryCounters,
)
from threadline.gateway.limits import go_duration
from threadline.gateway.pricing import (
    CODE_INTERPRETER_SESSIONS,
    Charges,
    PriceTable,
    TokenPrice,
    format_usd,
    usd_to_nanos,
)
from threadline.gateway.principal import Principal, merge_models, parse_networks
from threadline.gateway.redaction import REDACTED, BodyRedactor
from threadline.gateway.usage_sniff import StreamUsage, body_usage


def run(coroutine):
    return asyncio.run(coroutine)


# --- counters ---------------------------------------------------------------------------------


def test_windows_admit_exactly_their_limit():
    counters = MemoryCounters()
    check = Check(windows=[("w:key:k:r", 3, 1)])
    kinds = [run(counters.admit(check, "", 1000)).kind for _ in range(5)]
    assert kinds == [ADMITTED, ADMITTED, ADMITTED, WINDOW_FULL, WINDOW_FULL]
    # A new window starts when the old one has ended.
    assert run(counters.admit(check, "", 1000 + WINDOW_MS)).kind == ADMITTED


def test_a_refusal_takes_nothing_from_any_window():
    counters = MemoryCounters()
    check = Check(windows=[("a", 10, 1), ("b", 1, 1)])
    assert run(counters.admit(check, "", 0)).kind == ADMITTED
    refused = run(counters.admit(check, "", 0))
    assert (refused.kind, refused.index, refused.used) == (WINDOW_FULL, 1, [1, 1])
    assert run(counters.admit(Check(windows=[("a", 10, 0)]), "", 0)).used == [1]


def test_token_reservations_are_settled():
    counters = MemoryCounters()
    outcome = run(counters.admit(Check(windows=[("t", 100, 40)]), "", 0))
    run(counters.settle("t", outcome.ends_ms[0], 40, 15, 10))
    assert run(counters.admit(Check(windows=[("t", 100, 0)]), "", 20)).used == [15]
    # Settled after its window ended: the tokens count in the window of now.
    run(counters.settle("t", outcome.ends_ms[0], 40, 7, WINDOW_MS + 5))
    assert run(counters.admit(Check(windows=[("t", 100, 0)]), "", WINDOW_MS + 6)).used == [7]


def test_slots_are_held_until_released():
    counters = MemoryCounters()
    check = Check(slots=[("c", 2)])
    assert run(counters.admit(check, "r1", 0)).kind == ADMITTED
    assert run(counters.admit(check, "r2", 0)).kind == ADMITTED
    assert run(counters.admit(check, "r3", 0)).kind == SLOTS_FULL
    run(counters.release(["c"], "r1"))
    assert run(counters.admit(check, "r3", 0)).kind == ADMITTED


def test_spend_counters_are_seeded_then_enforced():
    counters = MemoryCounters()
    check = Check(budgets=[("s", 100)])
    now = int(time.time() * 1000)
    assert run(counters.admit(check, "", now)).kind == MISSING
    run(counters.seed("s", 60, 60_000))
    run(counters.seed("s", 0, 60_000))  # a second seed does not reset it
    assert run(counters.admit(check, "", now)).kind == ADMITTED
    run(counters.spend(["s", "never-seeded"], 40))
    assert run(counters.admit(check, "", now)).kind == BUDGET_SPENT


@pytest.mark.parametrize(
    ("ms", "text"), [(0, "0ms"), (250, "250ms"), (1000, "1s"), (12_500, "12.5s"), (90_000, "1m30s")]
)
def test_durations_as_openai_writes_them(ms: int, text: str):
    assert go_duration(ms) == text


def test_budget_periods_are_utc_days_and_months():
    moment = 1_764_547_200.0 + 3600  # 2025-12-01T01:00:00Z
    day = budget_period("day", moment)
    assert (day.id, day.first_day, day.last_day) == ("d2025-12-01", "2025-12-01", "2025-12-01")
    assert 86_400_000 < day.ttl_ms <= 2 * 86_400_000
    month = budget_period("month", moment)
    assert (month.id, month.first_day, month.last_day) == ("m2025-12", "2025-12-01", "2025-12-31")


# --- usage read from bytes --------------------------------------------------------------------


def test_body_usage_ignores_lookalikes_inside_strings():
    body = orjson.dumps(
        {
            "choices": [{"message": {"content": 'say "usage": {"prompt_tokens": 99}'}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "prompt_tokens_details": {}},
        }
    )
    assert body_usage(body) == (12, 5)
    assert body_usage(b'{"data": [], "usage": {"prompt_tokens": 7, "total_tokens": 7}}') == (7, 0)
    assert body_usage(b'{"choices": []}') is None


STREAM = (
    b'data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3}}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("cut", [1, 30, 70, 100, len(STREAM)])
def test_stream_usage_whatever_the_chunking(cut: int):
    kept = StreamUsage(strip=False)
    assert kept.feed(STREAM[:cut]) + kept.feed(STREAM[cut:]) + kept.flush() == STREAM
    assert kept.usage == (10, 3)
    stripped = StreamUsage(strip=True)
    out = stripped.feed(STREAM[:cut]) + stripped.feed(STREAM[cut:]) + stripped.flush()
    assert out == STREAM.replace(
        b'data: {"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3}}\n\n', b""
    )
    assert stripped.usage == (10, 3)


# --- prices -----------------------------------------------------------------------------------


def test_prices_configured_default_prefix_and_upstream_id():
    table = PriceTable(
        {"mine": TokenPrice(1.0, 2.0)},
        upstream_ids={"alias": "gpt-4o-mini"}.get,
        charges=Charges(code_interpreter_session=0.03),
    )
    assert table.token_cost("mine", 1_000_000, 1_000_000) == 3 * 10**9
    assert table.token_cost("gpt-4o-2024-08-06", 1_000_000, 0) == usd_to_nanos("2.5")
    assert table.token_cost("gpt-4o-mini-2024-07-18", 0, 1_000_000) == usd_to_nanos("0.6")
    assert table.token_cost("alias", 1_000_000, 0) == usd_to_nanos("0.15")
    assert table.token_cost("unknown-model", 10**6, 10**6) == 0
    assert table.charge_cost(CODE_INTERPRETER_SESSIONS, 2) == usd_to_nanos("0.06")


def test_money_formatting():
    assert format_usd(0) == "0"
    assert format_usd(125_000) == "0.000125"
    assert format_usd(usd_to_nanos(Decimal("12.5"))) == "12.5"
    for bad in ("-1", "nan", "x"):
        with pytest.raises(ValueError):
            usd_to_nanos(bad)


# --- addresses, principals, redaction ---------------------------------------------------------


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    none = ClientAddresses("")
    assert none.of("127.0.0.1", ["10.0.0.1"]) == "127.0.0.1"
    proxies = ClientAddresses("127.0.0.1/32, 10.9.0.0/16")
    assert proxies.of("192.0.2.1", ["10.0.0.1"]) == "192.0.2.1"  # not a proxy
    assert proxies.of("127.0.0.1", ["198.51.100.7"]) == "198.51.100.7"
    assert proxies.of("127.0.0.1", ["203.0.113.5, 198.51.100.7, 10.9.1.1"]) == "198.51.100.7"
    assert proxies.of("127.0.0.1", []) == "127.0.0.1"


def test_principal_addresses_and_models():
    principal = Principal("k", "p", "proj", networks=parse_networks(["10.0.0.0/8", "::1"]))
    assert principal.allows_address("10.2.3.4")
    assert principal.allows_address("::ffff:10.2.3.4")  # IPv4 seen through an IPv6 socket
    assert principal.allows_address("::1")
    assert not principal.allows_address("192.0.2.1")
    assert not principal.allows_address(None)
    assert not principal.allows_address("garbage")
    assert merge_models(["a", "b"], ["b", "c"]) == ("b",)
    assert merge_models(None, ["c"]) == ("c",)
    assert merge_models(None, None) is None
    with pytest.raises(ValueError, match="nope"):
        parse_networks(["nope"])


def test_body_redaction():
    redact = BodyRedactor(["sk-provider-0123456789abcdef"])
    body = orjson.dumps(
        {
            "api_key": "anything",
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": "v"},
            "max_tokens": 5,
            "text": "use sk-provider-0123456789abcdef or Bearer xyz123 or sk-tl-abcdefghijklmnop",
            "mine": "my-secret-value-here",
        }
    )
    text = redact(body, ["my-secret-value-here"])
    data = orjson.loads(text)
    assert data["api_key"] == REDACTED and data["headers"]["Authorization"] == REDACTED
    assert data["headers"]["X-Api-Key"] == REDACTED and data["max_tokens"] == 5
    for secret in ("0123456789abcdef", "xyz123", "abcdefghijklmnop", "my-secret-value"):
        assert secret not in text
    assert redact(b"not json sk-abcdefghijkl").endswith(REDACTED)
    assert len(BodyRedactor([], limit=10)(b"x" * 100)) < 30


BARE = "Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY"  # the shape of a key's secret after ``sk-tl-``


@pytest.mark.parametrize(
    "text",
    [
        BARE,
        f"sk-tl-{BARE}",
        f"line one\n{BARE}",  # escaped as \n in JSON: still a boundary
        f"line one\nsk-tl-{BARE}",
        f"key={BARE}&a=1",
        f"(BEARER {BARE})",
        f"é{BARE}.",
    ],
)
def test_a_bare_key_secret_is_redacted_in_json_and_text(text: str):
    redact = BodyRedactor([])
    assert BARE not in redact(orjson.dumps({"content": text}))
    assert BARE not in redact(orjson.dumps([{"nested": orjson.dumps({"k": text}).decode()}]))
    assert BARE not in redact(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        "asst_hou8c45vi29xxl7w8ruvc6qc",
        "file-hou8c4ouitcrp0i48asnpgap",
        f"chatcmpl-{BARE}",  # a 32-character tail of an id
        f"call_{BARE}",
        BARE + "Z",  # 33 characters
        "d41d8cd98f00b204e9800998ecf8427e",  # MD5: one case
        "D41D8CD98F00B204E9800998ECF8427E",
        "12345678901234567890123456789012",
        f"iVBORw0KGgo+{BARE}/AAAA{BARE}==",  # base64
        "Pumps are rated for 250 psi; see the manual, section 4.2.",
    ],
)
def test_ids_digests_base64_and_prose_are_kept(text: str):
    redact = BodyRedactor([])
    assert orjson.loads(redact(orjson.dumps({"content": text}))) == {"content": text}


def test_short_known_secrets_are_redacted():
    redact = BodyRedactor(["pw12345", "abc"])  # 7 characters: no 8-character window
    text = redact(orjson.dumps({"note": "master pw12345 here", "other": "abc abcd"}))
    assert "pw12345" not in text
    assert "abc abcd" in text  # under 4 characters: not looked for


CRLF_STREAM = b": keep-alive\r\n\r\n" + STREAM.replace(b"\n", b"\r\n").replace(
    b'data: {"choices":[],"usage":{',
    b'event: chunk\r\ndata: {"choices":[],\r\ndata: "usage":{',  # data in two lines
)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 13, 64, len(CRLF_STREAM)])
def test_stream_usage_of_crlf_streams_and_multiline_data(size: int):
    chunks = [CRLF_STREAM[i : i + size] for i in range(0, len(CRLF_STREAM), size)]
    kept = StreamUsage(strip=False)
    assert b"".join([*map(kept.feed, chunks), kept.flush()]) == CRLF_STREAM
    assert kept.usage == (10, 3)
    stripped = StreamUsage(strip=True)
    out = b"".join([*map(stripped.feed, chunks), stripped.flush()])
    assert stripped.usage == (10, 3)
    assert b'usage":{' not in out and out.endswith(b"data: [DONE]\r\n\r\n")
    assert out.startswith(b": keep-alive\r\n\r\n") and b'"content":"hi"' in out


@pytest.mark.parametrize("size", [1, 5, 40, 90])
def test_stream_usage_many_events_a_read(size: int):
    many = STREAM.replace(b"data: [DONE]", b'data: {"choices":[],"usage":null}') * 3 + STREAM
    chunks = [many[i : i + size] for i in range(0, len(many), size)]
    stripped = StreamUsage(strip=True)
    out = b"".join([*map(stripped.feed, chunks), stripped.flush()])
    usage_event = b'data: {"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3}}\n\n'
    assert out == many.replace(usage_event, b"")
    assert stripped.usage == (10, 3)
