"""``merged_exposition``: several worker processes' metrics as one server's."""

from prometheus_client.parser import text_string_to_metric_families

from threadline.gateway.metrics import Metrics, merged_exposition


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_series_are_summed_over_the_processes() -> None:
    first, second = Metrics(), Metrics()
    first.observe_requests([("/v1/chat/completions", "POST", 200, 0.003)] * 3)
    second.observe_requests(
        [("/v1/chat/completions", "POST", 200, 0.02), ("/v1/models", "GET", 404, 0.001)]
    )
    first.track(active_runs=lambda: 2, queue_depth=lambda: 0, dropped=lambda: 1)
    second.track(active_runs=lambda: 3, queue_depth=lambda: 4, dropped=lambda: 0)

    merged = _samples(
        merged_exposition([first.render().decode(), second.render().decode()]).decode()
    )

    chat = (("method", "POST"), ("route", "/v1/chat/completions"), ("status", "200"))
    assert merged[("threadline_http_requests_total", chat)] == 4
    missing = (("method", "GET"), ("route", "/v1/models"), ("status", "404"))
    assert merged[("threadline_http_requests_total", missing)] == 1
    route = (("route", "/v1/chat/completions"),)
    assert merged[("threadline_http_request_duration_seconds_count", route)] == 4
    assert (
        merged[("threadline_http_request_duration_seconds_bucket", (("le", "0.005"), *route))] == 3
    )
    assert merged[("threadline_active_runs", ())] == 5
    assert merged[("threadline_request_log_queue_depth", ())] == 4
    assert merged[("threadline_request_log_dropped", ())] == 1


def test_created_times_keep_the_earliest_and_labels_are_escaped() -> None:
    first, second = Metrics(), Metrics()
    odd = 'a "quoted"\\route\nnext'
    first.observe_requests([(odd, "GET", 200, 0.001)])
    second.observe_requests([(odd, "GET", 200, 0.001)])
    texts = [first.render().decode(), second.render().decode()]
    created = [
        value
        for text in texts
        for (name, _), value in _samples(text).items()
        if name == "threadline_http_requests_created"
    ]

    merged = _samples(merged_exposition(texts).decode())

    labels = (("method", "GET"), ("route", odd), ("status", "200"))
    assert merged[("threadline_http_requests_total", labels)] == 2
    assert merged[("threadline_http_requests_created", labels)] == min(created)
