"""`python -m livecmd` runs the CLI, for environments where the console script is not on PATH."""

from livecmd.cli import main

main()
