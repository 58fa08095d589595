"""docker-compose.yml cannot run here, so it is checked: valid against the Compose
Specification's JSON schema (the copy check-jsonschema ships, with its licence, from PyPI), every
variable it sets for the API is one the app reads, and the image's command is one the `jangkau`
CLI accepts."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import typer
import yaml

from geo.settings import Settings
from graph import cli

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


class Reads(dict[str, str]):
    """An empty environment that notes every variable asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return default

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)


def variables_the_app_reads() -> set[str]:
    """Settings.from_env's variables, and those the CLI's options take (`envvar=`)."""
    env = Reads()
    Settings.from_env(env)
    command = typer.main.get_command(cli.app)
    options: set[str] = set()
    stack = [command]
    while stack:
        c = stack.pop()
        stack += list(getattr(c, "commands", {}).values())
        for p in c.params:
            options |= {p.envvar} if isinstance(p.envvar, str) else set(p.envvar or ())
    return env.asked | options


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)     # its own draft (2020-12)
    assert [e.message for e in validator.iter_errors(compose())] == []
    # The check bites: a misspelt key is refused.
    broken = compose()
    broken["services"]["api"]["enviroment"] = {"X": "1"}
    assert any("enviroment" in e.message for e in validator.iter_errors(broken))


def api_services() -> dict[str, dict[str, Any]]:
    """The services that run Jangkau's image (`api`, and `api-scale` of the scale profile)."""
    return {name: s for name, s in compose()["services"].items()
            if s.get("image") == compose()["services"]["api"]["image"]}


def test_every_variable_set_for_the_api_is_read_by_the_app() -> None:
    read = variables_the_app_reads()
    assert {"DATABASE_URL", "JANGKAU_HOME", "JANGKAU_DEMO_ACTIVITIES"} <= read
    assert set(api_services()) == {"api", "api-scale"}
    for service in api_services().values():
        environment = service["environment"]
        assert sorted(set(environment) - read) == []
        Settings.from_env({k: str(v) for k, v in environment.items()})     # and they parse


def test_the_image_command_is_one_the_cli_accepts() -> None:
    dockerfile = compose()["services"]["api"]["build"]["dockerfile_inline"]
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.M)
    program, *args = json.loads(cmd)
    assert program == "jangkau"
    group = typer.main.get_command(cli.app)
    ctx = group.context_class(group, info_name=program)
    name, command, rest = group.resolve_command(ctx, list(args))
    assert name == "up" and command is not None, args
    parsed = command.make_context(name, rest, parent=ctx)
    assert parsed.params["host"] == "0.0.0.0"
    assert parsed.params["port"] == 8000
    # The scale profile's command overrides the image's: `serve` with two workers.
    name, command, rest = group.resolve_command(ctx, api_services()["api-scale"]["command"][1:])
    assert name == "serve" and command is not None
    assert command.make_context(name, rest, parent=ctx).params["workers"] == 2
