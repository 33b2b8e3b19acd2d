"""The Prometheus text format of the metrics registry."""

from __future__ import annotations

import math

import pytest

from siaga.api.metrics import MetricsRegistry


def test_counter_with_labels_renders_help_type_and_sorted_samples() -> None:
    m = MetricsRegistry()
    c = m.counter("siaga_ingest_readings_total", "Readings stored", ("transport",))
    c.inc(120, transport="mqtt")
    c.inc(transport="http")
    c.inc(2, transport="http")
    assert m.render() == (
        "# HELP siaga_ingest_readings_total Readings stored\n"
        "# TYPE siaga_ingest_readings_total counter\n"
        'siaga_ingest_readings_total{transport="http"} 3\n'
        'siaga_ingest_readings_total{transport="mqtt"} 120\n'
    )


def test_unlabelled_series_render_zero_before_use() -> None:
    m = MetricsRegistry()
    m.counter("a_total", "A")
    m.gauge("b", "B")
    text = m.render()
    assert "a_total 0\n" in text and "\nb 0\n" in text


def test_gauge_set_inc_dec_and_function() -> None:
    m = MetricsRegistry()
    g = m.gauge("siaga_open_incidents", "Open incidents", ("level",))
    g.set(3, level="awas")
    g.inc(level="siaga")
    g.dec(0.5, level="siaga")
    depth = m.gauge("siaga_queue_depth", "Depth")
    items = [1, 2, 3]
    depth.set_function(lambda: len(items))
    text = m.render()
    assert 'siaga_open_incidents{level="awas"} 3\n' in text
    assert 'siaga_open_incidents{level="siaga"} 0.5\n' in text
    assert "siaga_queue_depth 3\n" in text
    items.append(4)
    assert "siaga_queue_depth 4\n" in m.render()


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count() -> None:
    m = MetricsRegistry()
    h = m.histogram("siaga_store_write_seconds", "Write latency", buckets=(0.01, 0.1, 1))
    for v in (0.005, 0.05, 0.05, 2.0):
        h.observe(v)
    lines = m.render().splitlines()
    assert lines[1] == "# TYPE siaga_store_write_seconds histogram"
    assert lines[2:] == [
        'siaga_store_write_seconds_bucket{le="0.01"} 1',
        'siaga_store_write_seconds_bucket{le="0.1"} 3',
        'siaga_store_write_seconds_bucket{le="1"} 3',
        'siaga_store_write_seconds_bucket{le="+Inf"} 4',
        "siaga_store_write_seconds_sum 2.105",
        "siaga_store_write_seconds_count 4",
    ]
    assert h.count() == 4


def test_label_values_and_help_are_escaped() -> None:
    m = MetricsRegistry()
    m.counter("x_total", 'line one\nback\\slash', ("node",)).inc(node='a"b\\c\nd')
    text = m.render()
    assert "# HELP x_total line one\\nback\\\\slash\n" in text
    assert 'x_total{node="a\\"b\\\\c\\nd"} 1\n' in text


def test_same_registration_is_shared_and_a_different_one_refused() -> None:
    m = MetricsRegistry()
    a = m.counter("c_total", "C", ("x",))
    assert m.counter("c_total", "C", ("x",)) is a
    with pytest.raises(ValueError, match="already registered"):
        m.gauge("c_total", "C", ("x",))
    with pytest.raises(ValueError, match="already registered"):
        m.counter("c_total", "C", ("y",))
    with pytest.raises(ValueError, match="already registered"):
        m.counter("c_total", "other help", ("x",))
    h = m.histogram("h_seconds", "H", ["route"], buckets=(1,))
    assert m.histogram("h_seconds", "H", ("route",)) is h  # a lookup: its first buckets kept
    assert h.buckets == (1.0, math.inf)


def test_wrong_labels_names_and_negative_counts_are_refused() -> None:
    m = MetricsRegistry()
    c = m.counter("c_total", "C", ("x",))
    with pytest.raises(ValueError, match="takes labels"):
        c.inc(y="1")
    with pytest.raises(ValueError, match="only goes up"):
        c.inc(-1, x="1")
    with pytest.raises(ValueError, match="invalid metric name"):
        m.counter("bad-name", "B")
    with pytest.raises(ValueError, match="invalid label name"):
        m.histogram("h", "H", ("le",))


@pytest.mark.anyio
async def test_collectors_run_before_render_and_failures_are_counted() -> None:
    m = MetricsRegistry()
    g = m.gauge("siaga_incidents_open", "Open incidents", ("level",))

    async def refresh() -> None:
        g.clear()
        g.set(2, level="awas")

    async def broken() -> None:
        raise RuntimeError("db gone")

    m.add_collector(refresh)
    m.add_collector(broken)
    text = await m.collect()
    assert 'siaga_incidents_open{level="awas"} 2\n' in text
    assert "siaga_metrics_collector_errors_total 1\n" in text
