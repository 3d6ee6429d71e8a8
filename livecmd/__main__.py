"""The `livecmd` console script and `python -m livecmd`.

The CLI is imported here, under the Ctrl-C handling: importing typer and rich takes a tenth of a
second (more on a busy machine), and a Ctrl-C then would otherwise end in a traceback.
"""

from livecmd import interrupts


def main() -> None:
    with interrupts.caught():  # one record from the first moment: a press swallowed here still stops listen
        try:
            from livecmd.cli import main as cli
        except KeyboardInterrupt:
            interrupts.end()
        if interrupts.pressed():  # held back while the import ran, and not raised yet
            interrupts.end()
        cli()


if __name__ == "__main__":
    main()
