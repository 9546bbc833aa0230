"""In-process metrics rendered in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import threading
from collections import defaultdict

Labels = tuple[tuple[str, str], ...]


class Metric:
    """A counter or gauge with labels. ``inc`` for counters, ``set`` for gauges."""

    def __init__(self, name: str, help_text: str, kind: str) -> None:
        self.name, self.help, self.kind = name, help_text, kind
        self._values: dict[Labels, float] = defaultdict(float)
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._values[tuple(sorted(labels.items()))] += amount

    def set(self, value: float, **labels: str) -> None:
        with self._lock:
            self._values[tuple(sorted(labels.items()))] = value

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        with self._lock:
            items = sorted(self._values.items())
        for labels, v in items:
            lab = ",".join(f'{k}="{_escape(val)}"' for k, val in labels)
            lines.append(f"{self.name}{{{lab}}} {v:g}" if lab else f"{self.name} {v:g}")
        return lines


def _escape(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Registry:
    """The process's metrics."""

    def __init__(self) -> None:
        self.events_in = Metric("emergency_events_consumed_total", "Messages consumed, by topic and group.", "counter")
        self.events_out = Metric("emergency_events_produced_total", "Messages produced, by topic.", "counter")
        self.dead_letters = Metric("emergency_dead_letters_total", "Messages sent to the dead-letter topic, by source topic and reason (undecodable, refused, failed).", "counter")
        self.consumer_lag = Metric("emergency_consumer_lag", "Messages behind the end of the topic, by group and topic.", "gauge")
        self.broker_lag = Metric("emergency_broker_consumer_lag", "Messages between a group's committed offsets and the ends of its topics, as the broker reports them, by group and topic.", "gauge")
        self.http_responses = Metric("emergency_http_responses_total", "HTTP responses, by method, route and status.", "counter")
        self.accepted = Metric("emergency_intake_accepted_total", "Submissions journaled at intake, by kind.", "counter")
        self.broker_restarts = Metric("emergency_broker_restarts_total", "Times the broker was found to have forgotten its topics.", "counter")
        self.embedded_broker_restarts = Metric("emergency_embedded_broker_restarts_total", "Times the embedded broker process died and was started again on its port.", "counter")
        self.broker_outages = Metric("emergency_broker_outages_total", "Times the broker stopped answering (each outage is logged once).", "counter")
        self.journal_failed = Metric("emergency_journal_failed", "Journal rows a processor gave up on (dead-lettered), waiting for `emergency journal retry`.", "gauge")
        self.outbox_pending = Metric("emergency_outbox_unapplied", "Journal rows not yet applied to the projection.", "gauge")
        self.ws_clients = Metric("emergency_websocket_clients", "Connected WebSocket clients, by endpoint.", "gauge")
        self.alerts_pushed = Metric("emergency_alerts_pushed_total", "Alert messages pushed to WebSocket subscribers.", "counter")
        self.social_posts = Metric("emergency_social_posts_total", "Posts received from a social stream, by stream.", "counter")
        self.social_skipped = Metric("emergency_social_skipped_total", "Stream events skipped before the pipeline, by stream and reason.", "counter")
        self.social_decisions = Metric("emergency_social_decisions_total", "Pipeline outcomes (kept, or the drop reason), by stream.", "counter")
        self.social_journaled = Metric("emergency_social_clusters_journaled_total", "Cluster envelopes journaled (first and updated), by stream.", "counter")
        self.social_reconnects = Metric("emergency_social_reconnects_total", "Stream reconnections, by stream.", "counter")
        self.social_attempts = Metric("emergency_social_stream_attempts_total", "Supervised starts of a stream runner, by stream.", "counter")
        self.social_clusters = Metric("emergency_social_live_clusters", "Near-duplicate clusters held in memory, by stream.", "gauge")
        self.feed_polls = Metric("emergency_feed_polls_total", "Polls of an external feed, by feed.", "counter")
        self.feed_not_modified = Metric("emergency_feed_not_modified_total", "Polls answered 304 Not Modified, by feed.", "counter")
        self.feed_changes = Metric("emergency_feed_changes_total", "Feed item versions journaled, by feed and change (new, changed, ended).", "counter")
        self.feed_errors = Metric("emergency_feed_errors_total", "Failed polls (network, timeout, HTTP status, size, format), by feed.", "counter")
        self.feed_items = Metric("emergency_feed_items", "Items a feed lists now (published ones), by feed.", "gauge")

    def all(self) -> list[Metric]:
        return [m for m in vars(self).values() if isinstance(m, Metric)]

    def render(self) -> str:
        return "\n".join(line for m in self.all() for line in m.render()) + "\n"
