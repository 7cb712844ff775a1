"""Settings: secrets are required where they are used, and development gets a fixed one."""

import subprocess
import sys

import pytest
from pydantic import ValidationError

from shared.settings import DEV_JWT_SECRET, Settings


def test_production_api_requires_secret() -> None:
    settings = Settings(app_env="production", jwt_secret=None)

    with pytest.raises(ValueError, match="JWT_SECRET is required"):
        settings.require_jwt_keys()


def test_production_worker_settings_load_without_secret() -> None:
    settings = Settings(app_env="production", jwt_secret=None)

    assert settings.jwt_secret is None


def test_public_key_algorithm_requires_key() -> None:
    settings = Settings(app_env="production", jwt_algorithms=["RS256"], jwt_public_key=None)

    with pytest.raises(ValueError, match="JWT_PUBLIC_KEY is required"):
        settings.require_jwt_keys()


def test_development_gets_fixed_secret() -> None:
    settings = Settings(app_env="development", jwt_secret=None)

    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == DEV_JWT_SECRET


def test_none_algorithm_rejected() -> None:
    with pytest.raises(ValueError, match="must not include 'none'"):
        Settings(app_env="development", jwt_algorithms=["HS256", "none"])


def test_api_exits_without_secret() -> None:
    env = {"APP_ENV": "production", "PATH": "/usr/bin:/bin", "API_PORT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "api_service"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert "JWT_SECRET is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_timezone_rejected() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        Settings(app_env="development", timezone="Mars/Olympus")


def test_short_production_secret_rejected() -> None:
    settings = Settings(app_env="production", jwt_secret="x")

    with pytest.raises(ValueError, match="at least 32 bytes"):
        settings.require_jwt_keys()


def test_invalid_settings_exit_cleanly() -> None:
    env = {"APP_ENV": "development", "PATH": "/usr/bin:/bin", "TIMEZONE": "Mars/Olympus"}
    result = subprocess.run(
        [sys.executable, "-m", "worker_service"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert "unknown time zone" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('["HS256", "RS256"]', ["HS256", "RS256"]),
        ("HS256", ["HS256"]),
        ("HS256, ES256", ["HS256", "ES256"]),
    ],
    ids=["json_list", "one_name", "comma_separated"],
)
def test_algorithms_from_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("JWT_ALGORITHMS", raw)

    assert Settings().jwt_algorithms == expected


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("", "is empty"),
        (",", "is empty"),
        ("hs256", "unknown algorithms"),
        ("HS256,FOO", "unknown algorithms"),
        ("[HS256]", "must be a JSON list"),
    ],
    ids=["empty", "comma_only", "lower_case", "unknown_name", "bad_json"],
)
def test_algorithms_invalid(monkeypatch: pytest.MonkeyPatch, raw: str, problem: str) -> None:
    monkeypatch.setenv("JWT_ALGORITHMS", raw)

    with pytest.raises(ValidationError, match=problem):
        Settings()
