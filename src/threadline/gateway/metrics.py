"""Prometheus metrics, one registry per server (tests run several servers in one process).

Labels are routes (templates, never raw paths), methods, statuses, model names and reasons: no
key, project, id or secret ever becomes a label. Request metrics are observed from the request
log as it is written, so the request path only appends one row."""

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from threadline.gateway.recorder import UsageEvent

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "threadline_http_requests",
            "HTTP requests by route template, method and status.",
            ("route", "method", "status"),
            registry=r,
        )
        self.latency = Histogram(
            "threadline_http_request_duration_seconds",
            "Time from request to the end of the response, by route template.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "threadline_upstream_response_seconds",
            "Time until an upstream's response headers (and first chunk of a stream), by provider.",
            ("provider",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "threadline_tokens", "Tokens used, by model and kind.", ("model", "kind"), registry=r
        )
        self.cost = Counter("threadline_cost_usd", "Cost in USD, by model.", ("model",), registry=r)
        self.rate_limited = Counter(
            "threadline_rate_limit_rejections",
            "Requests refused by a rate limit or budget, by reason.",
            ("reason",),
            registry=r,
        )
        self.cache_hits = Counter(
            "threadline_response_cache_hits",
            "Requests answered from the response cache, by route.",
            ("route",),
            registry=r,
        )
        self.cache_misses = Counter(
            "threadline_response_cache_misses",
            "Requests of keys with a response cache not answered from it, by route.",
            ("route",),
            registry=r,
        )
        self.active_runs = Gauge(
            "threadline_active_runs",
            "Runs executing in this server (all its worker processes).",
            registry=r,
        )
        self.queue_depth = Gauge(
            "threadline_request_log_queue_depth",
            "Request-log lines and usage totals waiting to be written.",
            registry=r,
        )
        self.log_dropped = Gauge(
            "threadline_request_log_dropped",
            "Request-log lines dropped because the database could not keep up.",
            registry=r,
        )

    def observe_requests(self, observed: list[tuple[str, str, int, float]]) -> None:
        """Requests as (route, method, status, seconds): counted per label set at once."""
        counts: dict[tuple[str, str, int], int] = {}
        by_route: dict[str, Histogram] = {}
        for route, method, status, seconds in observed:
            labels = (route, method, status)
            counts[labels] = counts.get(labels, 0) + 1
            histogram = by_route.get(route)
            if histogram is None:
                histogram = by_route[route] = self.latency.labels(route)
            histogram.observe(seconds)
        for (route, method, status), count in counts.items():
            self.requests.labels(route, method, str(status)).inc(count)

    def observe_usage(self, event: UsageEvent) -> None:
        model = event.model or event.meter
        if event.input_tokens:
            self.tokens.labels(model, "input").inc(event.input_tokens)
        if event.output_tokens:
            self.tokens.labels(model, "output").inc(event.output_tokens)
        if event.cost_nanos:
            self.cost.labels(model).inc(event.cost_nanos / 1e9)

    def track(
        self,
        *,
        active_runs: Callable[[], float],
        queue_depth: Callable[[], float],
        dropped: Callable[[], float],
    ) -> None:
        self.active_runs.set_function(active_runs)
        self.queue_depth.set_function(queue_depth)
        self.log_dropped.set_function(dropped)

    def count_rejections(self, rejections: dict[str, int]) -> None:
        """Brings the limiter's plain counters into the registry (called at scrape time)."""
        for reason, count in rejections.items():
            counter = self.rate_limited.labels(reason)
            counter.inc(count - counter._value.get())

    def render(self) -> bytes:
        return generate_latest(self.registry)


def merged_exposition(reports: list[str]) -> bytes:
    """Several processes' metrics (``serve --workers N``) as one server's: each series summed
    over the processes (counts, histograms, gauges such as active runs), a ``_created`` time the
    earliest. Families keep their order of first appearance."""
    families: dict[str, tuple[str, str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for report in reports:
        for family in text_string_to_metric_families(report):
            _, _, series = families.setdefault(family.name, (family.type, family.documentation, {}))
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in series:
                    series[key] = sample.value
                elif sample.name.endswith("_created"):
                    series[key] = min(series[key], sample.value)
                else:
                    series[key] += sample.value
    lines: list[str] = []
    for name, (kind, documentation, series) in families.items():
        lines.append(f"# HELP {name} {_escape_help(documentation)}")
        lines.append(f"# TYPE {name} {kind}")
        for (sample_name, labels), value in series.items():
            rendered = ",".join(f'{label}="{_escape_label(text)}"' for label, text in labels)
            lines.append(
                f"{sample_name}{{{rendered}}} {value!r}" if labels else f"{sample_name} {value!r}"
            )
    return ("\n".join(lines) + "\n").encode()


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
