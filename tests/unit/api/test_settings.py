"""HubSettings: defaults, errors naming the key, SIAGA_HUB__ overrides, the shipped example."""

from __future__ import annotations

from pathlib import Path

import pytest

from siaga.api.errors import ConfigError
from siaga.api.settings import HubSettings, load_settings, settings_from_mapping

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_are_complete_and_safe() -> None:
    s = HubSettings()
    assert s.server.host == "127.0.0.1"
    assert s.dashboard.timezone == "Asia/Jakarta"
    assert set(s.agencies) == {"BPBD", "PMK", "SATPOLPP", "DISKOMINFO"}
    assert s.registry.file is None
    assert s.auth.see_all_agencies == []


def test_unknown_key_is_named_with_its_section() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"server": {"prot": 8080}}, env={})
    assert err.value.key == "server.prot"
    assert "unknown key" in str(err.value)


def test_unknown_section_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"sever": {"port": 1}}, env={})
    assert err.value.key == "sever"


def test_wrong_type_names_the_key_and_says_why() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"server": {"port": "eighty"}}, env={})
    assert err.value.key == "server.port"
    assert "integer" in err.value.message


def test_every_problem_is_listed() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"server": {"port": -1}, "auth": {"token_ttl_s": 1}}, env={})
    assert "server.port" in str(err.value) and "auth.token_ttl_s" in str(err.value)


def test_other_sections_are_validated_too() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"telemetry": {"kind": "mongodb"}}, env={})
    assert err.value.key == "telemetry.kind"


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"dashboard": {"timezone": "Asia/Batu"}}, env={})
    assert err.value.key == "dashboard.timezone"
    assert "Asia/Batu" in err.value.message


def test_agency_codes_must_be_upper_case() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"agencies": {"bpbd": {"name": "x"}}}, env={})
    assert err.value.key == "agencies"


def test_env_overrides_scalars_lists_and_nested_tables() -> None:
    s = settings_from_mapping(
        {"agencies": {"BPBD": {"name": "BPBD Kota Batu"}}},
        env={
            "SIAGA_HUB__SERVER__PORT": "9000",
            "SIAGA_HUB__AUTH__SEE_ALL_AGENCIES": '["DISKOMINFO"]',
            "SIAGA_HUB__AGENCIES__BPBD__NAME_EN": "Disaster agency",
            "SIAGA_HUB__MQTT__PASSWORD": "12345",
            "SIAGA_HUB__MQTT__USERNAME": "siaga-hub",
            "OTHER": "ignored",
        },
    )
    assert s.server.port == 9000
    assert s.auth.see_all_agencies == ["DISKOMINFO"]
    assert s.agencies["BPBD"].name == "BPBD Kota Batu"
    assert s.agencies["BPBD"].name_en == "Disaster agency"
    # digits stay a string: a numeric password is not turned into a number
    assert s.mqtt.password.get_secret_value() == "12345"


def test_env_override_with_a_bad_key_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({}, env={"SIAGA_HUB__SERVER__PROT": "1"})
    assert err.value.key == "server.prot"


def test_toml_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "hub.toml"
    bad.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_shipped_example_config_loads() -> None:
    s = load_settings(ROOT / "deploy" / "hub.example.toml", env={})
    assert s.registry.file == Path("deploy/demo/registry.toml")
    assert s.server.port == 8080


def test_a_check_that_names_its_key_is_reported_under_that_key() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"incidents": {"routing": {"fire": []}}}, env={})
    assert err.value.key == "incidents.routing.fire"
    assert err.value.message == "needs at least one agency"


def test_telemetry_on_postgresql_needs_the_database_on_postgresql() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"telemetry": {"kind": "postgresql"}}, env={})
    assert 'kind = "postgresql"' in str(err.value) and "[database] url" in str(err.value)
    ok = settings_from_mapping({"telemetry": {"kind": "postgresql"}},
                               env={"SIAGA_HUB__DATABASE__URL": "postgresql://siaga@db/siaga"})
    assert ok.telemetry.kind == "postgresql"


def test_a_body_limits_table_keeps_the_public_routes_it_does_not_name() -> None:
    """Naming only another prefix once lifted the report and login routes to max_body_bytes."""
    limits = settings_from_mapping(
        {"server": {"body_limits": {"/api/v1/admin/": 65536, "/api/v1/auth/": 2048}}},
        env={}).route_body_limits()
    assert limits["/api/v1/admin/"] == 65536
    assert limits["/api/v1/auth/"] == 2048
    assert limits["/api/v1/reports"] == HubSettings().route_body_limits()["/api/v1/reports"]
    assert limits["/api/v1/reports"] == 4096
