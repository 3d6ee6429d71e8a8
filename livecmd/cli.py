"""The `livecmd` command line. Thin: parse options, call one function, and turn a LivecmdError
into one line on stderr with exit code 2."""

from __future__ import annotations

import sys

import typer

from livecmd.errors import LivecmdError

app = typer.Typer(
    help="Raw-waveform audio classification (SampleCNN, ReSE-2-Multi) and live voice commands.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.command()
def info() -> None:
    """Show the torch version, the device livecmd would use, and the paper's six models."""
    from livecmd.report import print_info

    print_info()


def _reserved(name: str, issue: str) -> None:
    @app.command(name=name, help=f"(coming: {issue})", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def _not_yet(ctx: typer.Context) -> None:
        raise LivecmdError(f"`livecmd {name}` is not available in this version yet ({issue})")


for _name, _issue in (
    ("train", "training on the real datasets"),
    ("eval", "the paper's metrics per domain"),
    ("listen", "the live recognizer"),
    ("visualize", "the paper's filter pictures"),
    ("export", "ONNX export"),
    ("synth", "synthetic speech from offline voices"),
):
    _reserved(_name, _issue)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except LivecmdError as e:
        print(f"livecmd: error: {e}", file=sys.stderr)
        sys.exit(2)
