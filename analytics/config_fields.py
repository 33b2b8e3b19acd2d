"""The field types the analytics settings share: bounds and one-line docs that many
detectors' keys carry (``analytics.config`` and ``analytics.rainfall_thresholds`` use them)."""

from __future__ import annotations

import math
from typing import Annotated

from annotated_types import Ge, Gt, MinLen, doc

INF = math.inf

NonNegative = Annotated[float, Ge(0)]
Positive = Annotated[float, Gt(0)]
Seconds = Annotated[float, Gt(0)]
Hysteresis = Annotated[float, Ge(0), doc("Fraction by which a level's thresholds are lowered "
                                            "before the level clears")]
MinDuration = Annotated[float, Ge(0), doc("Seconds a higher level must hold before it is raised")]
ClearAfter = Annotated[float, Ge(0), doc("Seconds a lower level must hold before it clears")]
Name = Annotated[str, MinLen(1)]
