"""Deployment files: docker-compose.yml, Dockerfile, Makefile, .ci/run and the package list."""

import fnmatch
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LONG_RUNNING = ["postgres", "redis", "api", "worker"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def test_compose_has_services(services: dict) -> None:
    assert set(services) >= {"postgres", "redis", "migrate", "api", "worker"}


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_compose_healthchecks(services: dict, name: str) -> None:
    test = services[name]["healthcheck"]["test"]
    assert isinstance(test, list)
    assert test[0] == "CMD"


def test_compose_migrate_is_one_shot(services: dict) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "-m", "shared.migrate"]
    assert migrate["restart"] == "no"
    assert migrate["healthcheck"] == {"disable": True}
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["redis", "migrate", "api", "worker"])
def test_compose_commands_exec_form(services: dict, name: str) -> None:
    command = services[name]["command"]
    assert isinstance(command, list)
    assert all(isinstance(part, str) for part in command)


def test_compose_app_commands(services: dict) -> None:
    assert services["api"]["command"] == ["python", "-m", "api_service"]
    assert services["worker"]["command"] == ["python", "-m", "worker_service"]
    assert services["worker"]["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "worker_service.healthcheck",
    ]
    assert "http://127.0.0.1:8080/healthz" in " ".join(services["api"]["healthcheck"]["test"])


def test_compose_api_waits_for_migrate(services: dict) -> None:
    depends_on = services["api"]["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_compose_worker_replicas(services: dict) -> None:
    worker = services["worker"]
    assert worker["deploy"]["replicas"] > 1
    assert worker["stop_grace_period"] == "30s"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_redis_durable(services: dict) -> None:
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert services["postgres"]["image"] == "postgres:16"


@pytest.mark.parametrize("name", ["migrate", "api", "worker"])
def test_compose_app_environment(services: dict, name: str) -> None:
    environment = services[name]["environment"]
    assert environment["APP_ENV"] == "production"
    assert environment["JWT_SECRET"] == "${JWT_SECRET:?set JWT_SECRET}"


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]

    assert instructions[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users
    assert users[-1] not in {"root", "0"}
    assert any(line.startswith("RUN pip install .") for line in instructions)
    cmd = [line for line in instructions if line.startswith("CMD ")]
    assert cmd == ['CMD ["python", "-m", "api_service"]']
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD \[", text, re.MULTILINE)


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", text, re.MULTILINE))


def test_makefile_targets() -> None:
    targets = makefile_targets()
    expected = {
        "venv",
        "run",
        "test",
        "migrate",
        "demo-data",
        "token",
        "worker",
        "api",
        "bench",
        "lint",
        "clean",
    }
    assert expected <= targets


def make_dry_run(target: str, **variables: str) -> str:
    """Return the commands `make -n` would run for target, given only PATH and variables.

    A clean environment keeps the settings of a calling make (MAKEFLAGS, PYTEST_ARGS) out.
    """
    env = {"PATH": os.environ["PATH"], **variables}
    # -o treats the venv stamp as up to date, which keeps the install recipe out of the output.
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", ".venv/.installed-dev", target],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return result.stdout


def test_make_test_with_urls() -> None:
    output = make_dry_run(
        "test", REDIS_URL="redis://127.0.0.1:6379/0", DATABASE_URL="postgresql://x@127.0.0.1/y"
    )
    assert output.strip() == ".venv/bin/python -m pytest"


def test_make_test_without_urls() -> None:
    output = make_dry_run("test")
    assert "-m tools.devstack servers --data-dir .data/test -- .venv/bin/python -m pytest" in output


def test_make_test_passes_pytest_args() -> None:
    output = make_dry_run(
        "test", REDIS_URL="redis://r", DATABASE_URL="postgresql://d", PYTEST_ARGS="-k smoke"
    )
    assert output.strip() == ".venv/bin/python -m pytest -k smoke"


def test_make_token_defaults() -> None:
    output = make_dry_run("token")
    assert "-m tools.make_token --user 1 --roles cliente" in output


def test_ci_script() -> None:
    path = ROOT / ".ci" / "run"
    text = path.read_text(encoding="utf-8")
    assert os.access(path, os.X_OK)
    assert "set -euo pipefail" in text
    assert "export REDIS_URL=redis://127.0.0.1:6379/0" in text
    assert "export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres" in text
    assert text.rstrip().endswith("make test")


def package_dirs() -> list[str]:
    """Return the dotted names of the installable packages: folders with __init__.py under them."""
    names = []
    for top in ["api_service", "worker_service", "shared", "tools"]:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            names.append(".".join(init.parent.relative_to(ROOT).parts))
    return names


def test_pyproject_installs_every_subpackage() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    packages = config.get("packages")

    for name in package_dirs():
        if isinstance(packages, list):
            assert name in packages
        else:
            assert any(
                fnmatch.fnmatchcase(name, pattern) for pattern in packages["find"]["include"]
            ), name
