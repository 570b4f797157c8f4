"""Prometheus metrics of one app, served at ``/metrics``.

Each app has a registry of its own rather than prometheus-client's global one, so that several apps in
one process (the tests start many) count separately and never register a metric twice.
"""

from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Label of the requests that matched no route (a label per raw path would grow without bound).
UNMATCHED_ROUTE = "unmatched"
#: Label of outbound calls that got no full answer: connection failure, timeout, oversized body.
NO_RESPONSE = "error"
#: Methods counted by name; any other method (clients may send any token) is counted as ``other``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ConnectionUsage(Protocol):
    """The database connections now, as the store reports them (``casepush.store.PoolUsage``): a protocol,
    so that the metrics, and the outbound client and the plugins that use them, never import the store."""

    @property
    def in_use(self) -> int: ...
    @property
    def open(self) -> int: ...
    @property
    def max(self) -> int: ...


class Metrics:
    """The counters, histograms and gauges of one app, and their text exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "casepush_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._request_seconds = Histogram(
            "casepush_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._pushes = Counter(
            "casepush_pushes_total",
            "Pushes of cases to external systems, by connector type and outcome"
            " (success; failure: the external system refused, 424; refused: a 4xx of casepush; error).",
            ["connector_type", "outcome"],
            registry=self.registry,
        )
        self._push_seconds = Histogram(
            "casepush_push_duration_seconds",
            "Time a push of a case took, from the claim to the saved case, by connector type.",
            ["connector_type"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._external_requests = Counter(
            "casepush_external_requests_total",
            "Calls of connectors to external systems, by connector type and HTTP status"
            f" ({NO_RESPONSE}: no full answer, e.g. a connection failure or a timeout).",
            ["connector_type", "status"],
            registry=self.registry,
        )
        self._automatic_pushes = Counter(
            "casepush_automatic_push_attempts_total",
            "Attempts of automatic pushes by this instance, by outcome (success; retry: failed, to be tried"
            " again; failed: failed for good until the case changes; skipped: the case no longer qualified).",
            ["outcome"],
            registry=self.registry,
        )
        self._automatic_queue = Gauge(
            "casepush_automatic_push_queue_depth",
            "Automatic pushes waiting or running, in every space (as this instance last looked).",
            registry=self.registry,
        )
        self._automatic_oldest = Gauge(
            "casepush_automatic_push_oldest_pending_seconds",
            "How long the oldest waiting automatic push has waited (0 when none waits).",
            registry=self.registry,
        )
        self._sync_calls = Counter(
            "casepush_sync_inbound_calls_total",
            "Calls of connectors' inbound webhooks (two-way sync), by connector type and HTTP status.",
            ["connector_type", "status"],
            registry=self.registry,
        )
        self._sync_polls = Counter(
            "casepush_sync_polls_total",
            "Polls of external systems for changes by this instance, by connector type and outcome"
            " (success, failure).",
            ["connector_type", "outcome"],
            registry=self.registry,
        )
        self._sync_changes = Counter(
            "casepush_sync_changes_total",
            "External changes two-way sync judged, by connector type, source (webhook, poll, sync) and"
            " outcome (applied; conflicted: the case changed later; ignored: already applied, casepush's own,"
            " not brought back, or of an incident casepush did not push).",
            ["connector_type", "source", "outcome"],
            registry=self.registry,
        )
        self._db_in_use = Gauge(
            "casepush_db_connections_in_use",
            "Database connections running a query or transaction now.",
            registry=self.registry,
        )
        self._db_open = Gauge(
            "casepush_db_connections_open", "Database connections open now.", registry=self.registry
        )
        self._db_max = Gauge(
            "casepush_db_connections_max",
            "Most database connections the app opens (the PostgreSQL pool size; 2 for SQLite).",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        counted_method = method if method in KNOWN_METHODS else "other"
        self._requests.labels(counted_method, route, str(status)).inc()
        self._request_seconds.labels(counted_method, route).observe(seconds)

    def observe_push(self, connector_type: str, outcome: str, seconds: float) -> None:
        self._pushes.labels(connector_type, outcome).inc()
        self._push_seconds.labels(connector_type).observe(seconds)

    def observe_external_request(self, connector_type: str, status: int | None) -> None:
        """One outbound call; ``status`` None when no full answer came."""
        self._external_requests.labels(connector_type, NO_RESPONSE if status is None else str(status)).inc()

    def observe_automatic_push(self, outcome: str) -> None:
        self._automatic_pushes.labels(outcome).inc()

    def observe_automatic_push_queue(self, depth: int, oldest_seconds: float) -> None:
        self._automatic_queue.set(depth)
        self._automatic_oldest.set(max(oldest_seconds, 0.0))

    def observe_sync_call(self, connector_type: str, status: int) -> None:
        self._sync_calls.labels(connector_type, str(status)).inc()

    def observe_sync_poll(self, connector_type: str, outcome: str) -> None:
        self._sync_polls.labels(connector_type, outcome).inc()

    def observe_sync_changes(self, connector_type: str, source: str, outcome: str, count: int) -> None:
        if count:
            self._sync_changes.labels(connector_type, source, outcome).inc(count)

    def exposition(self, pool: ConnectionUsage) -> bytes:
        """Every metric in Prometheus' text format, the pool gauges read now (they have no events)."""
        self._db_in_use.set(pool.in_use)
        self._db_open.set(pool.open)
        self._db_max.set(pool.max)
        return generate_latest(self.registry)
