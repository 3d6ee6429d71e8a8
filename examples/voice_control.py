"""Voice control on top of `livecmd listen --json`: steer a marker on a grid and switch a light.

    python examples/voice_control.py                              # the default microphone
    python examples/voice_control.py --input examples/demo.wav    # a clip, in real time
    python examples/voice_control.py --input examples/demo.wav --fast --plain

up / down / left / right move the marker one cell and set its heading; go starts it moving one
cell a second along the heading, stop halts it; on / off switch the light. Every other option is
passed to `livecmd listen` (e.g. --weights W, --mic NAME, --threshold 0.6). --plain prints one
line per command instead of the live grid (for logs and tests).

The program only reads listen's JSON lines ({"time", "label", "score", "latency_ms"}): the same
loop drives anything else (a robot, a game, a smart plug).
"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import nullcontext
from dataclasses import dataclass, replace

from rich.console import Console
from rich.live import Live
from rich.text import Text

SIZE = 9
MOVES = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
CELLS_PER_SECOND = 1.0


@dataclass(frozen=True)
class World:
    x: int = SIZE // 2
    y: int = SIZE // 2
    heading: str = "up"
    moving: bool = False
    light: bool = False
    time: float = 0.0  # stream seconds of the last update
    travelled: float = 0.0  # fraction of a cell covered since the last whole cell


def _step(world: World, direction: str, cells: int) -> World:
    dx, dy = MOVES[direction]
    clamp = lambda v: max(0, min(SIZE - 1, v))  # noqa: E731
    return replace(world, x=clamp(world.x + dx * cells), y=clamp(world.y + dy * cells))


def advance(world: World, time: float) -> World:
    """Move along the heading for the stream time since the last update, while going."""
    if not world.moving or time <= world.time:
        return replace(world, time=max(time, world.time))
    distance = world.travelled + (time - world.time) * CELLS_PER_SECOND
    cells = int(distance)
    return replace(_step(world, world.heading, cells), time=time, travelled=distance - cells)


def command(world: World, label: str, time: float) -> World:
    """The world after the command `label` heard at stream time `time` (seconds)."""
    world = advance(world, time)
    if label in MOVES:
        return replace(_step(world, label, 1), heading=label)
    if label == "go":
        return replace(world, moving=True, travelled=0.0)
    if label == "stop":
        return replace(world, moving=False, travelled=0.0)
    if label in ("on", "off"):
        return replace(world, light=label == "on")
    return world  # yes, no and any other label: nothing to do


def draw(world: World, last: str) -> Text:
    text = Text()
    for y in range(SIZE):
        for x in range(SIZE):
            text.append(" ● " if (x, y) == (world.x, world.y) else " · ", style="bold cyan" if (x, y) == (world.x, world.y) else "dim")
        text.append("\n")
    text.append(f"light {'ON ' if world.light else 'off'}", style="bold yellow" if world.light else "dim")
    text.append(f"   {'moving ' + world.heading if world.moving else 'halted'}   last: {last}\n")
    return text


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print(__doc__.strip())
        return 0
    plain = "--plain" in argv
    listen_args = [a for a in argv if a != "--plain"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "livecmd", "listen", "--json", *listen_args], stdout=subprocess.PIPE, text=True
    )
    world, console = World(), Console()
    assert proc.stdout is not None
    view = nullcontext() if plain else Live(draw(world, "-"), console=console, auto_refresh=False)
    try:
        with view as live:
            for line in proc.stdout:
                event = json.loads(line)
                world = command(world, event["label"], event["time"])
                if plain:
                    print(f"{event['time']:6.2f}s {event['label']:<6} -> x={world.x} y={world.y} "
                          f"{'moving ' + world.heading if world.moving else 'halted'} light={'on' if world.light else 'off'}")
                else:
                    live.update(draw(world, f"{event['label']} ({event['score']:.2f}) at {event['time']:.1f} s"), refresh=True)
    except KeyboardInterrupt:
        proc.terminate()
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
