"""The metrics `GET /metrics` shows, in Prometheus' text format, from a registry of
their own (one per receiver, so that two in one process, as in the tests, do not
share counters).

    followup_serve_events_received_total{source}           every POST to a webhook path
    followup_serve_events_verified_total{source}           ... whose signature held
    followup_serve_events_rejected_total{source,reason}    signature, too_large, malformed,
                                                           queue_full
    followup_serve_events_ignored_total{source,reason}     verified, about nothing followup manages
    followup_serve_events_coalesced_total{source}          folded into a page run already waiting
    followup_serve_page_runs_total{outcome}                synced, leased, ignored, failed
    followup_serve_pages_synced_total                      page runs that completed
    followup_serve_page_writes_total                       page runs that wrote the page
    followup_serve_queue_depth                             page runs waiting
    followup_serve_event_to_page_seconds                   first event of a run -> run done
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServeMetrics"]

_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class ServeMetrics:
    """The receiver's counters, gauge and histogram."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "followup_serve_events_received", "Webhook deliveries received.", ["source"], registry=r
        )
        self.verified = Counter(
            "followup_serve_events_verified",
            "Deliveries whose signature was valid.",
            ["source"],
            registry=r,
        )
        self.rejected = Counter(
            "followup_serve_events_rejected",
            "Deliveries refused: bad or missing signature, too large, malformed, queue full.",
            ["source", "reason"],
            registry=r,
        )
        self.ignored = Counter(
            "followup_serve_events_ignored",
            "Verified deliveries about nothing followup manages (no run, no write).",
            ["source", "reason"],
            registry=r,
        )
        self.coalesced = Counter(
            "followup_serve_events_coalesced",
            "Events folded into a page run already waiting.",
            ["source"],
            registry=r,
        )
        self.runs = Counter(
            "followup_serve_page_runs", "Page runs, by outcome.", ["outcome"], registry=r
        )
        self.synced = Counter(
            "followup_serve_pages_synced", "Page runs that completed.", registry=r
        )
        self.writes = Counter(
            "followup_serve_page_writes", "Page runs that wrote the page.", registry=r
        )
        self.depth = Gauge("followup_serve_queue_depth", "Page runs waiting.", registry=r)
        self.lag = Histogram(
            "followup_serve_event_to_page_seconds",
            "Seconds from the first event a page run covers to the run's end.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
