"""Naming a report's place and judging which reports confirm each other (pure)."""

from __future__ import annotations

import pytest

from siaga.api.incidents.corroboration import PendingReport, independent_group, reporter_key
from siaga.api.incidents.place import SitePoint, name_place, place_key

ALUN = SitePoint("alun-alun", "Alun-alun Batu", -7.8713, 112.5260)
PASAR = SitePoint("pasar-batu", "Pasar Besar Batu", -7.8716, 112.5247)


def test_the_nearest_site_within_the_radius_names_the_place() -> None:
    p = name_place(-7.8715, 112.5249, [ALUN, PASAR], 300)
    assert (p.site, p.label, p.label_en) == ("pasar-batu", "Pasar Besar Batu", "Pasar Besar Batu")
    assert p.distance_m is not None and p.distance_m < 30


@pytest.mark.parametrize(("dlat", "dlon", "label", "label_en"), [
    (0.0108, 0.0, "1,2 km U dari Alun-alun Batu", "1.2 km N of Alun-alun Batu"),
    (0.0076, -0.0077, "1,2 km BL dari Alun-alun Batu", "1.2 km NW of Alun-alun Batu"),
    (-0.0045, 0.0, "500 m S dari Alun-alun Batu", "500 m S of Alun-alun Batu"),
    (-0.003, 0.003, "470 m TG dari Alun-alun Batu", "470 m SE of Alun-alun Batu"),
    (0.0, -0.09, "9,9 km B dari Alun-alun Batu", "9.9 km W of Alun-alun Batu"),
])
def test_farther_out_a_distance_and_direction_from_the_nearest_site(
        dlat: float, dlon: float, label: str, label_en: str) -> None:
    p = name_place(ALUN.lat + dlat, ALUN.lon + dlon, [ALUN], 300)
    assert (p.site, p.label, p.label_en) == (None, label, label_en)


def test_with_no_site_near_the_coordinates_themselves() -> None:
    p = name_place(-7.95, 112.75, [ALUN], 300)  # ~26 km away
    assert (p.site, p.label, p.label_en) == (None, "7,9500 LS 112,7500 BT", "7.9500 S 112.7500 E")
    assert name_place(3.59, 98.67, [], 300).label == "3,5900 LU 98,6700 BT"  # Medan
    assert place_key(-7.87126, 112.52604) == "geo:-7.8713,112.5260"


def pending(i: int, at: float, address: str, contact: str = "", dlat: float = 0.0) -> PendingReport:
    return PendingReport(i, at, -7.8713 + dlat, 112.5260, address, reporter_key(contact))


def test_independent_reports_differ_in_address_and_contact() -> None:
    new = pending(9, 1000, "c", "0813")
    waiting = [pending(1, 900, "a", "0811"), pending(2, 910, "a"),  # same address as 1
               pending(3, 920, "b", "0811"),  # same phone as 1
               pending(4, 930, "d", "0813"),  # same phone as the new one
               pending(5, 940, "e"), pending(6, 950, "f", dlat=0.01),  # 1.1 km away
               pending(7, -900, "g")]  # before the window
    group = independent_group(new, waiting, radius_m=300, window_s=1800)
    assert [r.id for r in group] == [1, 5, 9]
    assert reporter_key(" 0812 3456 789 ") == reporter_key("08123456789") == "08123456789"
    assert reporter_key(None) == ""
