"""What `pip install .` gives a user: a wheel that carries the package and the shipped weights
with their model cards, no generic top-level `train` package, and a `livecmd` that works from
any folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_the_wheel_lists_every_package_of_livecmd_and_the_shipped_weights_as_its_data() -> None:
    found = sorted(".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "livecmd").rglob("__init__.py"))
    assert sorted(PYPROJECT["packages"]) == sorted(found + ["livecmd._weights"])
    assert PYPROJECT["package-dir"] == {"livecmd._weights": "weights"}
    shipped = [p.name for p in (REPO / "weights").iterdir() if p.is_file()]
    patterns = PYPROJECT["package-data"]["livecmd._weights"]
    assert all(any(Path(name).match(pattern) for pattern in patterns) for name in shipped), shipped
    assert not any(name.startswith("train") for name in PYPROJECT["packages"])


def _checkout_copy(to: Path) -> Path:
    """The checkout's files, without what a build or a run leaves in it."""
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "runs")
    return Path(shutil.copytree(REPO, to, ignore=ignore))


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_listens_to_the_demo_from_another_folder(tmp_path: Path) -> None:
    source = _checkout_copy(tmp_path / "checkout")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                            "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("livecmd-*.whl"))

    # A fresh venv; its dependencies (torch, numpy, ...) come from this interpreter's
    # site-packages through a .pth line, which adds the folder but runs none of its own .pth
    # files: an editable livecmd installed there stays out of sight.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    assert not Path(purelib, "train").exists() and Path(purelib, "livecmd", "_weights", "speech-samplecnn.md").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LIVECMD_WEIGHTS_DIR")}
    livecmd = str(env_dir / "bin" / "livecmd")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([livecmd, *args], capture_output=True, text=True, timeout=300, cwd=elsewhere, env=env)

    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("livecmd ")
    demo = str((REPO / "examples" / "demo.wav").resolve())
    heard = run("listen", "--input", demo, "--json", "--fast")
    assert heard.returncode == 0, heard.stderr
    assert "speech-samplecnn.safetensors" in heard.stderr  # the shipped weights, from the wheel
    checkout = subprocess.run([sys.executable, "-m", "livecmd", "listen", "--input", demo, "--json", "--fast"],
                              capture_output=True, text=True, timeout=300, cwd=REPO)
    expected = [(e["label"], e["time"]) for e in map(json.loads, checkout.stdout.splitlines())]
    assert [(e["label"], e["time"]) for e in map(json.loads, heard.stdout.splitlines())] == expected and len(expected) >= 8

    evaluate = run("eval", "--domain", "speech", "--data", str(elsewhere), "--weights", "w.safetensors")
    assert evaluate.returncode == 2 and evaluate.stdout == ""
    assert evaluate.stderr.count("\n") == 1 and "needs a checkout" in evaluate.stderr
    custom = run("custom", "--words", "lights", "--out", "w.safetensors")
    assert custom.returncode == 2 and custom.stderr.count("\n") == 1 and "custom needs a checkout" in custom.stderr
