"""The hand-written tails against scipy, and the gateway's run path free of scipy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from siaga.analytics.tail_probability import (
    SERIES_BELOW,
    normal_isf,
    normal_sf,
    student_t_sf,
    student_t_sf_array,
    student_t_sf_of,
    t3_sf,
    t3_sf_array,
)

# 0, the series/direct boundary (x = 1 at t = sqrt 3 / tan 0.5) and its neighbours,
# then 0.001 .. 1e100 densely; beyond ~1e103 the tail (2 sqrt3 / (pi t^3)) underflows.
BOUNDARY_T = float(np.sqrt(3.0) / np.tan(SERIES_BELOW / 2.0))
T_VALUES = np.r_[0.0, np.nextafter(BOUNDARY_T, 0.0), BOUNDARY_T,
                 np.nextafter(BOUNDARY_T, np.inf), np.logspace(-3, 100, 4001)]


def test_t3_tail_equals_scipy_from_zero_to_1e100() -> None:
    expected = stats.t.sf(T_VALUES, 3)
    assert expected[-1] > 0.0  # the range really reaches the far tail
    np.testing.assert_allclose(t3_sf_array(T_VALUES), expected, rtol=1e-13, atol=0.0)
    scalar = np.array([t3_sf(float(t)) for t in T_VALUES])
    np.testing.assert_allclose(scalar, expected, rtol=1e-13, atol=0.0)


def test_t3_tail_at_known_points() -> None:
    # Tables of Student's t, 3 dof: upper 5% at 2.353, 0.5% at 5.841, 0.05% at 12.924.
    assert t3_sf(0.0) == 0.5
    assert t3_sf(2.353363) == pytest.approx(0.05, rel=1e-6)
    assert t3_sf(5.840909) == pytest.approx(0.005, rel=1e-6)
    assert t3_sf(12.923979) == pytest.approx(0.0005, rel=1e-6)
    assert t3_sf(-2.353363) == 1.0 - t3_sf(2.353363)


def test_t3_tail_at_the_extremes() -> None:
    # The asymptote 2 sqrt(3) / (pi t^3) where it is exact to double precision.
    for t in (1e8, 1e50, 1e100):
        assert t3_sf(t) == pytest.approx(2 * np.sqrt(3) / (np.pi * t**3), rel=1e-14)
    assert t3_sf(1e200) == 0.0 == t3_sf_array(np.array([np.inf]))[0]
    assert t3_sf(float("inf")) == 0.0
    assert t3_sf(-float("inf")) == 1.0
    assert t3_sf(5e-324) == 0.5


def test_other_degrees_of_freedom_go_to_scipy() -> None:
    t = np.logspace(-3, 30, 200)
    for df in (1.0, 2.5, 5.0, 30.0):
        np.testing.assert_allclose(student_t_sf_array(df, t), stats.t.sf(t, df), rtol=1e-12)
        assert student_t_sf(df, 4.0) == pytest.approx(stats.t.sf(4.0, df), rel=1e-12)
    assert student_t_sf(3.0, 4.0) == t3_sf(4.0)


def test_a_bound_tail_is_the_same_function_of_t() -> None:
    assert student_t_sf_of(3.0) is t3_sf
    for df in (2.5, 4.0):
        assert [student_t_sf_of(df)(t) for t in (0.0, 1.5, 40.0)] == [
            student_t_sf(df, t) for t in (0.0, 1.5, 40.0)]


def test_normal_tail_and_its_inverse_equal_scipy() -> None:
    z = np.r_[0.0, np.linspace(0.01, 37.5, 2000)]
    np.testing.assert_allclose([normal_sf(float(x)) for x in z], stats.norm.sf(z),
                               rtol=1e-13, atol=0.0)
    p = np.r_[np.logspace(-300, -1, 2000), 0.2, 0.4999, 0.5]
    np.testing.assert_allclose([normal_isf(float(x)) for x in p], stats.norm.isf(p),
                               rtol=1e-12, atol=1e-15)


def test_the_gateways_run_path_imports_no_scipy() -> None:
    # The reason tail_probability exists: scipy.special alone added ~26 MB to the gateway.
    code = """
import sys
import siaga.gateway.cli, siaga.gateway.runtime
from siaga.analytics import EdgeAnalytics
from siaga.firmware_bridge import Reading
engine = EdgeAnalytics()
for i in range(300):
    ts = 1.7e9 + 60 * i
    value = 30.0 + (i % 7) * 0.1 + (9.0 if i == 250 else 0.0)
    engine.process(Reading("n", "vwc", value, "%", ts, ts, i, "test"))
assert engine.levels(), "the anomaly detector ran"
print(sorted(m for m in sys.modules if m.split(".")[0] == "scipy"))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
