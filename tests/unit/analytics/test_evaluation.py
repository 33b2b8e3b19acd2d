from siaga.analytics.config import AnalyticsConfig
from siaga.analytics.evaluation import evaluate, format_table


def test_fire_scenario_is_caught_quickly_and_table_prints():
    rows, fa = evaluate(AnalyticsConfig(), quiet_days=0.1, seed=3, scenarios=("fire",))
    fire = [r for r in rows if r.detector == "fire"]
    assert len(fire) == 2  # both smoke nodes of the market
    assert all(r.delay_min is not None and r.delay_min < 5 and r.max_level == 4 for r in fire)
    assert {f.detector for f in fa} >= {"rain", "landslide", "fire", "crowd", "health"}
    assert next(f for f in fa if f.detector == "landslide").alerts == 0
    text = format_table((rows, fa), markdown=True)
    assert "| fire | fire " in text and "false alarms / day" in text
