"""The `livecmd` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys

import torch

from tests.test_models import PAIRS, _paper_parameters
from livecmd.domains import DOMAINS


def _livecmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livecmd", *args], capture_output=True, text=True, timeout=120,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )


def test_info_prints_torch_device_and_the_six_parameter_counts() -> None:
    result = _livecmd("info")
    assert result.returncode == 0, result.stderr
    assert f"torch {torch.__version__}" in result.stdout
    assert re.search(r"device (cpu|cuda)", result.stdout)
    for domain, arch in PAIRS:
        d = DOMAINS[domain]
        count = f"{_paper_parameters(arch, d.blocks, len(d.labels)):,}"
        assert re.search(rf"{domain}\s.*{arch}.*{d.input_samples:,}.*{count}", result.stdout), (domain, arch)


def test_help_lists_every_command() -> None:
    result = _livecmd("--help")
    assert result.returncode == 0
    for name in ("info", "train", "eval", "listen", "visualize", "export", "synth"):
        assert re.search(rf"^\W*{name}\b", result.stdout, re.MULTILINE), name


def test_a_bad_flag_exits_2() -> None:
    result = _livecmd("info", "--no-such-flag")
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_listen_is_listed_first_and_version_prints_the_packages_version() -> None:
    import livecmd

    commands = re.findall(r"^\W*(\w+)\s{2,}\S", _livecmd("--help").stdout.split("Commands")[1], re.MULTILINE)
    assert commands[0] == "listen" and set(commands) >= {"info", "train", "eval", "visualize", "export", "synth"}
    result = _livecmd("--version")
    assert result.returncode == 0 and result.stdout == f"livecmd {livecmd.__version__}\n"


def test_help_shows_choices_not_types_and_docstrings_as_one_paragraph() -> None:
    from livecmd.cli import app

    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        shown = _livecmd(name, "--help").stdout
        options = shown.split("Options")[1]
        assert "<str>" not in options and [line for line in options.splitlines() if "<bool>" in line and "--help" not in line] == [], name
        # wide enough for any of them: a description that wraps came from a hard line break
        wide = subprocess.run([sys.executable, "-m", "livecmd", name, "--help"], capture_output=True, text=True, timeout=120,
                              env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"}).stdout
        first = " ".join(command.callback.__doc__.split()).replace("\\[", "[")
        assert any(first in line for line in wide.splitlines()), name
    listen = _livecmd("listen", "--help").stdout
    assert "auto|cached|folded|torch" in listen and "auto|bf16|fp32" in listen and "auto|cpu|cuda" in listen
    assert "speech|mtat|dcase" in _livecmd("eval", "--help").stdout
    wrong = _livecmd("eval", "--domain", "music", "--data", ".", "--weights", "w")  # a choice not offered: one line
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "speech, mtat, dcase" in wrong.stderr, wrong.stderr


def test_the_choices_the_help_shows_are_the_ones_their_owners_take() -> None:
    from livecmd import cli
    from livecmd.compute import DEVICE_CHOICES
    from livecmd.models import ARCHS
    from livecmd.stream.engine import ENGINES, PRECISIONS
    from train.datasets import SPLITS
    from train.fit import OPTIMIZERS
    from train.precision import AMP_CHOICES

    assert cli.DOMAIN.split("|") == list(DOMAINS) and cli.ARCH.split("|") == list(ARCHS)
    assert set(cli.AMP.split("|")) == set(AMP_CHOICES) and cli.OPTIMIZER.split("|") == list(OPTIMIZERS)
    assert cli.ENGINE.split("|") == list(ENGINES) and cli.PRECISION.split("|") == list(PRECISIONS)
    assert cli.DEVICE.split("|")[:2] == list(DEVICE_CHOICES)[:2] and set(cli.SPLIT.split("|")) <= set(SPLITS)


def test_usage_mistakes_the_issue_named_are_one_line_errors() -> None:
    for args, message in [(["eval", "--domain", "speech", "--data", "."], "add --weights W"),
                          (["listen", "--input", "examples/demo.wav", "--smooth-ms", "-1"], "--smooth-ms -1"),
                          (["listen", "--input", "examples/demo.wav", "--refractory-ms", "-5"], "--refractory-ms -5")]:
        result = _livecmd(*args)
        assert result.returncode == 2 and result.stdout == "", (args, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("livecmd: error: ") and message in result.stderr, result.stderr


def test_train_and_eval_without_the_train_folder_say_they_need_a_checkout(tmp_path) -> None:
    """A wheel installs livecmd without train/: the package copied alone, as site-packages holds
    it, and no other `train` importable (this interpreter may have one installed)."""
    import shutil

    from tests.conftest import REPO

    shutil.copytree(REPO / "livecmd", tmp_path / "livecmd", ignore=shutil.ignore_patterns("__pycache__"))
    run = "import sys; sys.modules['train'] = None; from livecmd.cli import main; sys.argv[0] = 'livecmd'; main()"
    for args in (["train", "--domain", "speech", "--data", "."], ["eval", "--domain", "speech", "--data", ".", "--weights", "w"]):
        result = subprocess.run([sys.executable, "-c", run, *args], capture_output=True, text=True, timeout=120,
                                cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "COLUMNS": "120"})
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert f"{args[0]} needs a checkout of livecmd" in result.stderr
