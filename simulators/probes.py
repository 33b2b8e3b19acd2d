"""The sensors on a virtual node: each reads one or more channels off the models.

A probe turns model state into what a real sensor would print: calibration
offset, noise, the sensor's rails and the resolution its firmware prints with.
Counter probes return the true count since the start of the simulation; the
node subtracts what it had counted at boot.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from siaga.simulators.models.crowd import Zone
from siaga.simulators.models.fire import SmokeAndHeat
from siaga.simulators.models.power import Battery, Radio
from siaga.simulators.models.slope import Slope
from siaga.simulators.models.soil import SoilColumn
from siaga.simulators.models.stepped import local_hour
from siaga.simulators.models.weather import Air, RainField


class Probe(Protocol):
    channels: tuple[str, ...]

    def read(self, ts: float, rng: random.Random) -> dict[str, float]: ...


def clamp(value: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, value))


@dataclass
class RainGauge:
    rain: RainField
    mm_per_tip: float = 0.2
    catch_factor: float = 1.0  # a gauge's calibration error (wind, a tilted funnel)
    channels: tuple[str, ...] = ("rain",)

    def read(self, ts: float, rng: random.Random) -> dict[str, float]:
        depth = self.rain.depth_by(ts) * self.catch_factor
        return {"rain": int(depth / self.mm_per_tip + 1e-9)}


@dataclass
class SoilProbe:
    soil: SoilColumn
    offset: float = 0.0  # the probe's calibration error, % vwc
    noise_sd: float = 0.25
    channels: tuple[str, ...] = ("vwc",)

    def read(self, ts: float, rng: random.Random) -> dict[str, float]:
        self.soil.advance(ts)
        value = self.soil.vwc + self.offset + rng.gauss(0, self.noise_sd)
        return {"vwc": round(clamp(value, 0, 100), 1)}


@dataclass
class Extensometer:
    """A crack extensometer and/or an inclinometer (``channels`` says which)."""

    slope: Slope
    noise_mm: float = 0.02
    channels: tuple[str, ...] = ("ext", "tilt")

    def read(self, ts: float, rng: random.Random) -> dict[str, float]:
        self.slope.advance(ts)
        ext = self.slope.ext_mm + rng.gauss(0, self.noise_mm)
        tilt = self.slope.tilt_deg + rng.gauss(0, 0.01)
        both = {"ext": round(clamp(ext, 0, 2000), 2), "tilt": round(clamp(tilt, -90, 90), 2)}
        return {c: both[c] for c in self.channels}


@dataclass
class AirProbe:
    air: Air
    heat: SmokeAndHeat | None = None
    channels: tuple[str, ...] = ("temp", "hum")

    def read(self, ts: float, rng: random.Random) -> dict[str, float]:
        temp = self.air.temp(ts) + rng.gauss(0, 0.15)
        hum = self.air.humidity(ts) + rng.gauss(0, 0.8)
        if self.heat is not None:
            self.heat.advance(ts)
            temp += self.heat.excess_c
            # Same water vapour, hotter air: relative humidity falls.
            hum *= 0.95 ** self.heat.excess_c
        # The sensor's own rail: it reads 85 degC at most, never more.
        return {"temp": round(clamp(temp, -40, 85), 1), "hum": round(clamp(hum, 0, 100), 1)}


@dataclass
class SmokeProbe:
    """An MOS smoke/gas sensor over a market: a few ppm of background, cooking
    smoke at meal times, the odd brief puff (a burning rubbish pile, a smoker)."""

    heat: SmokeAndHeat | None
    background_ppm: float = 4.0
    puffs_per_day: float = 1.5
    channels: tuple[str, ...] = ("smoke",)

    def __post_init__(self) -> None:
        self._puff_until = 0.0
        self._puff_ppm = 0.0
        self._last_ts: float | None = None

    def read(self, ts: float, rng: random.Random) -> dict[str, float]:
        h = local_hour(ts)
        cooking = 12.0 if 5.5 <= h <= 8.5 or 16.5 <= h <= 19.5 else 0.0
        dt = 0.0 if self._last_ts is None else max(0.0, ts - self._last_ts)
        self._last_ts = ts
        if ts >= self._puff_until and rng.random() < self.puffs_per_day * dt / 86400:
            self._puff_until = ts + rng.uniform(60, 300)
            self._puff_ppm = rng.uniform(25, 70)
        puff = self._puff_ppm if ts < self._puff_until else 0.0
        value = self.background_ppm + cooking + puff + abs(rng.gauss(0, 1.0))
        if self.heat is not None:
            self.heat.advance(ts)
            value += self.heat.smoke_ppm
        return {"smoke": round(clamp(value, 0, 10000))}


@dataclass
class GateCounter:
    zone: Zone
    gate: str
    channels: tuple[str, ...] = ("pin", "pout")

    def read(self, ts: float, rng: random.Random) -> dict[str, float]:
        self.zone.advance(ts)
        return {"pin": self.zone.entered[self.gate], "pout": self.zone.left[self.gate]}


@dataclass
class PowerProbe:
    """Battery voltage, and the radio's signal strength on nodes that report it."""

    battery: Battery
    radio: Radio
    channels: tuple[str, ...] = ("batt", "rssi")

    def read(self, ts: float, rng: random.Random) -> dict[str, float]:
        batt = self.battery.voltage(ts) + rng.gauss(0, 0.005)
        rssi = self.radio.mean_dbm + rng.gauss(0, self.radio.sd_db)
        both = {"batt": round(clamp(batt, 0, 30), 2), "rssi": round(clamp(rssi, -150, 0))}
        return {c: both[c] for c in self.channels}
