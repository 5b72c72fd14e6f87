"""Prometheus metrics of the service (``GET /metrics``), via ``prometheus-client``.

Each app has its own registry (tests run several apps in one process). With several worker
processes, ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start: every worker
writes its samples there and ``/metrics`` aggregates all of them.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """Requests, verdicts, cache hits and latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "atlas_service_requests",
            "HTTP requests by endpoint and status code",
            ("endpoint", "status"),
            registry=self.registry,
        )
        self.verdicts = Counter(
            "atlas_service_verdicts",
            "Verification verdicts by policy and outcome",
            ("policy", "verdict"),
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "atlas_service_cache_hits",
            "Cache hits: whole verdicts reused, and check results reused inside verifications",
            ("layer",),
            registry=self.registry,
        )
        self.latency = Histogram(
            "atlas_service_request_seconds",
            "Request latency by endpoint",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def verdict(self, policy: str, answer: dict[str, object]) -> None:
        """Count one verdict and the cache hits behind it."""
        self.verdicts.labels(policy, "verified" if answer.get("ok") else "failed").inc()
        if answer.get("cached"):
            self.cache_hits.labels("verdict").inc()
        hits = answer.get("cache_hits")
        if isinstance(hits, int) and hits > 0 and not answer.get("cached"):
            self.cache_hits.labels("checks").inc(hits)

    def render(self) -> bytes:
        """The exposition text: this process's registry, or every worker's when multiprocess."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
