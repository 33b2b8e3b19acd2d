import pytest

from siaga.analytics.cli import main as analytics_main
from siaga.analytics.config import AnalyticsConfig
from siaga.simulators.cli import main
from siaga.simulators.evaluation import evaluate, format_table


def test_fire_scenario_is_caught_quickly_and_table_prints():
    rows, fa = evaluate(AnalyticsConfig(), quiet_days=0.1, seed=3, scenarios=("fire",))
    fire = [r for r in rows if r.detector == "fire"]
    assert len(fire) == 2  # both smoke nodes of the market
    assert all(r.delay_min is not None and r.delay_min < 5 and r.max_level == 4 for r in fire)
    assert {f.detector for f in fa} >= {"rain", "landslide", "fire", "crowd", "health"}
    assert next(f for f in fa if f.detector == "landslide").alerts == 0
    text = format_table((rows, fa), markdown=True)
    assert "| fire | fire " in text and "false alarms / day" in text


def test_evaluate_command_refuses_a_bad_config_naming_the_option(tmp_path, capsys):
    bad = tmp_path / "gateway.toml"
    bad.write_text("[analytics.rain]\nwindow_s = 'soon'\n")
    assert main(["evaluate", "--config", str(bad)]) == 78
    assert "siaga-sim: --config: " in capsys.readouterr().err


def test_analytics_cli_no_longer_offers_evaluate(capsys):
    with pytest.raises(SystemExit) as exit_:
        analytics_main(["evaluate"])
    assert exit_.value.code == 2
    assert "invalid choice: 'evaluate'" in capsys.readouterr().err
