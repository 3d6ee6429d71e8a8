"""Promises the repository makes to a new user: the README's commands are the ones CI runs."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (REPO / "README.md").read_text())


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = next(c for c in _readme_commands() if "pytest" in c)
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_readme_has_one_main_command_and_one_test_command() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert sum("pytest" in c for c in commands) == 1
    assert all(c.startswith("pip install torch==2.13.0 && pip install -e \".[dev]\"") for c in commands)
