"""The physical models: rain, soil, slope, fire, crowd, battery."""

from __future__ import annotations

import random

import pytest

from siaga.simulators.models.crowd import CrowdEvent, Zone, ZoneParams
from siaga.simulators.models.fire import Exposure, Fire, SmokeAndHeat, ceiling_jet_excess_c
from siaga.simulators.models.power import Battery
from siaga.simulators.models.slope import Slope, SlopeParams
from siaga.simulators.models.soil import SoilColumn, SoilParams
from siaga.simulators.models.weather import Air, RainClimate, RainField, Storm
from siaga.simulators.probes import RainGauge

T0 = 1768528800.0  # 09:00 WIB
H = 3600.0


def test_storm_delivers_its_total_with_a_peak_where_configured() -> None:
    s = Storm(T0, 3 * H, 90.0, peak_frac=0.3)
    assert s.depth_by(T0) == 0.0
    assert s.depth_by(T0 + 3 * H) == pytest.approx(90.0)
    assert s.depth_by(T0 + 10 * H) == pytest.approx(90.0)
    # Cumulative depth at the peak is peak_frac of the total (triangular hyetograph).
    assert s.depth_by(T0 + 0.3 * 3 * H) == pytest.approx(27.0)
    assert s.intensity(T0 + 0.9 * H) == pytest.approx(s.peak_mm_per_h) == pytest.approx(60.0)
    depths = [s.depth_by(T0 + k * 60) for k in range(200)]
    assert depths == sorted(depths)


def test_rain_gauge_counts_whole_tips_of_0_2_mm() -> None:
    field = RainField((Storm(T0, H, 10.0),))
    gauge = RainGauge(field)
    rng = random.Random(0)
    half = gauge.read(T0 + 0.5 * H, rng)["rain"]
    assert half == int(field.depth_by(T0 + 0.5 * H) / 0.2)
    assert gauge.read(T0 + 2 * H, rng) == {"rain": 50}
    assert RainGauge(field, mm_per_tip=0.5).read(T0 + 2 * H, rng) == {"rain": 20}


def test_climate_is_seeded_per_day_and_rains_on_about_half_the_days() -> None:
    a = RainField(climate=RainClimate(7))
    b = RainField(climate=RainClimate(7))
    days = [T0 + d * 86400 for d in range(60)]
    assert [a.depth_by(t) for t in days] == [b.depth_by(t) for t in days]
    wet = sum(1 for d in range(40) if RainClimate(7).storms_of_day(20000 + d))
    assert 10 <= wet <= 30
    for d in range(40):
        for storm in RainClimate(7).storms_of_day(20000 + d):
            assert storm.total_mm <= 70.0


def test_air_is_warmest_in_the_afternoon_and_cooled_by_rain() -> None:
    dry = Air(RainField())
    assert dry.temp(T0 + 5 * H) > dry.temp(T0 - 3 * H)  # 14:00 vs 06:00 WIB
    wet = Air(RainField((Storm(T0, 2 * H, 60.0),)))
    assert wet.temp(T0 + 0.7 * H) < dry.temp(T0 + 0.7 * H)
    assert wet.humidity(T0 + 0.7 * H) > dry.humidity(T0 + 0.7 * H)


def test_soil_rises_to_saturation_in_a_storm_then_drains_towards_field_capacity() -> None:
    params = SoilParams(field_capacity=32.0, saturation=47.0, depth_mm=300.0)
    soil = SoilColumn(T0, RainField((Storm(T0 + H, 3 * H, 110.0),)), params)
    soil.advance(T0 + H)
    before = soil.vwc
    assert before == pytest.approx(32.0, abs=0.2)  # a morning of evapotranspiration
    soil.advance(T0 + 4 * H)
    peak = soil.vwc
    assert peak > 44.0
    assert peak <= 47.0
    assert soil.runoff_mm > 0  # the storm out-rains the soil's infiltration capacity
    soil.advance(T0 + 28 * H)
    day_after = soil.vwc
    soil.advance(T0 + 76 * H)
    assert peak > day_after > soil.vwc > 32.0
    assert soil.vwc - 32.0 < 0.2 * (peak - 32.0)


def test_soil_stays_put_without_rain_at_night_and_dries_by_day() -> None:
    soil = SoilColumn(T0, RainField(), SoilParams(initial=30.0))
    soil.advance(T0 + 10 * 86400)
    assert 22.0 < soil.vwc < 30.0


def test_slope_creeps_slowly_until_saturated_then_accelerates() -> None:
    rain = RainField((Storm(T0 + H, 3 * H, 110.0),))
    soil = SoilColumn(T0, rain, SoilParams(initial=34.0))
    slope = Slope(T0, soil, SlopeParams())
    slope.advance(T0 + H)
    assert slope.ext_mm - 12.0 < 0.01
    slope.advance(T0 + 5 * H)
    mid = slope.velocity_mm_h
    slope.advance(T0 + 9 * H)
    assert slope.velocity_mm_h > 10 * mid
    assert slope.ext_mm > 15.0
    assert slope.tilt_deg > SlopeParams().tilt0_deg


def test_alpert_ceiling_jet_near_and_far() -> None:
    assert ceiling_jet_excess_c(0, 5, 7) == 0
    near = ceiling_jet_excess_c(1000, 1.0, 7.0)
    far = ceiling_jet_excess_c(1000, 20.0, 7.0)
    assert near == pytest.approx(16.9 * 1000 ** (2 / 3) / 7 ** (5 / 3))
    assert far == pytest.approx(5.38 * (1000 / 20) ** (2 / 3) / 7)
    assert near > far


def test_fire_grows_as_t_squared_is_capped_and_decays_after_knockdown() -> None:
    fire = Fire(T0, q_max_kw=3000, suppressed_ts=T0 + 1200)
    assert fire.heat_release_kw(T0 + 100) == pytest.approx(0.0469 * 100**2)
    assert fire.heat_release_kw(T0 + 1000) == 3000
    assert fire.heat_release_kw(T0 + 1200 + 300) == pytest.approx(3000 / 2.718281828, rel=1e-3)


def test_smoke_ramps_at_the_near_node_and_later_and_less_at_the_neighbour() -> None:
    fire = Fire(T0 + 60, suppressed_ts=T0 + 1500)
    near = SmokeAndHeat(T0, (Exposure(fire, 6.0),))
    far = SmokeAndHeat(T0, (Exposure(fire, 25.0),))
    near.advance(T0 + 60)
    assert near.smoke_ppm == 0.0
    near.advance(T0 + 60 + 40)
    far.advance(T0 + 60 + 40)
    assert near.smoke_ppm > 5 * max(far.smoke_ppm, 1e-9)
    near.advance(T0 + 900)
    far.advance(T0 + 900)
    assert near.smoke_ppm > 1000
    assert 200 < far.smoke_ppm < near.smoke_ppm
    assert near.excess_c > far.excess_c > 10
    near.advance(T0 + 4000)
    assert near.smoke_ppm < 20


def test_crowd_counters_never_go_down_and_an_event_fills_the_zone() -> None:
    event = CrowdEvent(T0 + 2 * H, T0 + 6 * H, 9000.0)
    zone = Zone(T0, ZoneParams(gates=("a", "b")), (event,), seed=1, name="sq")
    prev = {"a": 0, "b": 0}
    occupancy = []
    for k in range(1, 9 * 60):
        zone.advance(T0 + k * 60)
        for gate in ("a", "b"):
            assert zone.entered[gate] >= prev[gate]
            prev[gate] = zone.entered[gate]
        occupancy.append(zone.occupancy)
    assert sum(zone.entered.values()) - sum(zone.left.values()) == zone.occupancy
    before, during, after = occupancy[100], occupancy[5 * 60], occupancy[-1]
    assert during > 10 * max(before, 1)
    assert after < during / 5


def test_battery_follows_the_sun_and_falls_through_the_knee_when_the_panel_fails() -> None:
    ok = Battery()
    assert ok.voltage(T0 + 4 * H) > ok.voltage(T0 + 14 * H)  # 13:00 vs 23:00 WIB
    failing = Battery(panel_fail_ts=T0, hours_to_empty=30)
    volts = [failing.voltage(T0 + h * H) for h in range(0, 31, 3)]
    assert volts == sorted(volts, reverse=True)
    assert volts[-1] == pytest.approx(3.0, abs=0.1)
    low = failing.time_below(3.5)
    assert low is not None
    assert failing.voltage(low - 60) >= 3.5 > failing.voltage(low + 60)
    assert ok.time_below(3.5) is None
