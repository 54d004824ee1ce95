"""Settings: every one is documented, and the environment is read the way the contract says."""

from pathlib import Path

import pytest
from pydantic import AliasChoices

from threadline.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _variables(name: str) -> list[str]:
    """The environment variables a setting is read from: THREADLINE_<NAME>, or its aliases
    (standard variables such as OPENAI_BASE_URL or OTEL_EXPORTER_OTLP_ENDPOINT)."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [f"THREADLINE_{name.upper()}"]


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_in_the_readme(name: str) -> None:
    readme = README.read_text()
    for variable in _variables(name):
        assert variable in readme


def test_upstream_falls_back_to_the_openai_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THREADLINE_UPSTREAM_BASE_URL", raising=False)
    monkeypatch.delenv("THREADLINE_UPSTREAM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream")
    settings = Settings()
    assert settings.upstream_base_url == "http://127.0.0.1:9/v1"
    assert settings.upstream_api_key is not None
    assert settings.upstream_api_key.get_secret_value() == "sk-upstream"


def test_threadline_variables_win_over_the_openai_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("THREADLINE_UPSTREAM_BASE_URL", "http://127.0.0.1:10/v1")
    assert Settings().upstream_base_url == "http://127.0.0.1:10/v1"


def test_database_defaults_to_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None)
    assert settings.is_sqlite
    assert settings.resolved_database_url.endswith(str(tmp_path.resolve() / "threadline.db"))


def test_a_secret_never_shows_in_the_settings_repr() -> None:
    settings = Settings(master_key="sk-master-canary-123456789")
    assert "canary" not in repr(settings)
