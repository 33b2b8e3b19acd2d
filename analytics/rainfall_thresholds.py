"""Rainfall thresholds for landslides: intensity-duration and event-duration curves (the
published ones in ``ID_CURVES``) and the cumulative antecedent threshold beside a curve.

The landslide detector compares a slope's rain with them; ``siaga-analytics calibrate-rain``
fits them to a site's record and writes them as ``[analytics.landslide.curves]`` keys
(docs/detectors.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from annotated_types import Gt, Interval, doc

from siaga.analytics.config_fields import NonNegative, Positive

__all__ = ["ID_CURVES", "AntecedentThreshold", "IDCurve"]


@dataclass(frozen=True, slots=True)
class AntecedentThreshold:
    """A cumulative antecedent-rainfall threshold: P_short + long_weight * P_long >= short_mm.

    P_short is the rain of the last ``short_days`` (up to the reading), P_long that of the
    ``long_days`` before them: the form of Chleborad (2000) and Godt, Baum & Chleborad
    (2006, Earth Surf. Process. Landforms 31: 97-110), 3-day and 15-day sums. The wetter
    the long window, the less short-window rain reaches the threshold.
    """

    short_mm: Annotated[float, Gt(0), doc(
        "Rain over the short window that reaches the threshold after a dry long window (mm)")]
    long_weight: Annotated[float, Interval(ge=0, le=10), doc(
        "Short-window rain (mm) that one mm of the long window stands for")] = 0.0
    short_days: Annotated[float, Interval(gt=0, le=30), doc(
        "Days of the short window, ending at the reading")] = 3.0
    long_days: Annotated[float, Interval(gt=0, le=60), doc(
        "Days of the long window, before the short one")] = 15.0
    source: Annotated[str, doc("Where the threshold comes from (a citation, a fit)")] = ""

    @property
    def short_s(self) -> float:
        return self.short_days * 86400.0

    @property
    def total_s(self) -> float:
        return (self.short_days + self.long_days) * 86400.0


@dataclass(frozen=True, slots=True)
class IDCurve:
    """A rainfall threshold, valid for d_min_h..d_max_h (D in hours).

    ``kind = "ID"``: intensity-duration, I = a * D**-b (I mm/h). ``kind = "ED"``: cumulated
    event rainfall-duration, E = a * D**b (E mm), the form Brunetti et al. (2010) and
    Peruccacci et al. (2012) fit (``siaga-analytics calibrate-rain`` writes one). An E-D curve
    is the I-D curve a, 1 - b, so both compare the event's mean intensity to
    ``a * D**intensity_exponent``.
    """

    a: Positive
    b: NonNegative
    d_min_h: Positive = 0.1
    d_max_h: Positive = 1000.0
    kind: Annotated[Literal["ID", "ED"], doc("ID: I = a D^-b; ED: E = a D^b")] = "ID"
    source: Annotated[str, doc("Where the curve comes from (a citation, a fit)")] = ""
    # The event definition the curve was fitted with (calibrate-rain writes it): a curve
    # fitted on events split by dry days means other events with the 6 h default.
    dry_gap_s: Annotated[float | None, Gt(0), doc(
        "A rain event ends after this long dry, for this curve (default: landslide.dry_gap_s)"
    )] = None
    # Rain that fell over the days before an event lowers the event rain a slope needs.
    antecedent: Annotated[AntecedentThreshold | None, doc(
        "Cumulative antecedent threshold beside the curve: either raises the rain rung")] = None

    @property
    def intensity_exponent(self) -> float:
        return -self.b if self.kind == "ID" else self.b - 1.0


ID_CURVES: dict[str, IDCurve] = {
    # Caine (1980), Geografiska Annaler 62A: world data set, 10 min < D < 10 days.
    "caine1980": IDCurve(14.82, 0.39, 0.167, 240.0),
    # Guzzetti et al. (2008), Landslides 5: global minimum threshold, 0.1 h < D < 1000 h.
    "guzzetti2008": IDCurve(2.20, 0.44, 0.1, 1000.0),
}
