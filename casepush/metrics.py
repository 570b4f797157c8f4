"""Prometheus metrics of the service (served at ``/metrics``)."""

from prometheus_client import Counter, Histogram

PUSHES = Counter(
    "casepush_pushes_total",
    "Pushes of cases to external systems, by connector type and outcome"
    " (success; failure: the external system refused, 424; refused: a 4xx of casepush; error).",
    ["connector_type", "outcome"],
)
PUSH_SECONDS = Histogram(
    "casepush_push_duration_seconds",
    "Time a push of a case took, from the claim to the saved case, by connector type.",
    ["connector_type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
