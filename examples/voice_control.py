#!/usr/bin/env python3
"""Voice control with livecmd's Python API: steer a marker on a grid and switch a light.

    examples/voice_control.py                              # the default microphone
    examples/voice_control.py --input examples/demo.wav    # a clip, in real time
    examples/voice_control.py --input examples/demo.wav --fast --plain
    examples/voice_control.py --wake "smart mirror"           # "smart mirror ... left" (or your own wake word's weights)

up / down / left / right move the marker one cell and set its heading; go starts it moving one
cell a second along the heading, stop halts it; on / off switch the light. --plain prints one
line per command instead of the live grid (for logs and tests).

The program only reads `livecmd.listen()`'s detections (label, time, score): the same loop
drives anything else (a robot, a game, a smart plug).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from dataclasses import dataclass, replace

from rich.console import Console
from rich.live import Live
from rich.text import Text

import livecmd

SIZE = 9
MOVES = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
COMMANDS = (*MOVES, "go", "stop", "on", "off")  # listened for alone: `yes` and `no` never fire here
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
    return world  # a label of other weights: nothing to do


def draw(world: World, last: str) -> Text:
    """The grid, SIZE rows of SIZE cells, then one status line: SIZE + 1 lines in all."""
    rows = []
    for y in range(SIZE):
        row = Text()
        for x in range(SIZE):
            here = (x, y) == (world.x, world.y)
            row.append(" ● " if here else " · ", style="bold cyan" if here else "dim")
        rows.append(row)
    status = Text(f"light {'ON ' if world.light else 'off'}", style="bold yellow" if world.light else "dim")
    status.append(f"   {'moving ' + world.heading if world.moving else 'halted'}   last: {last}")
    return Text("\n").join([*rows, status])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--input", metavar="FILE", help="a clip instead of the microphone")
    parser.add_argument("--fast", action="store_true", help="read the clip as fast as possible")
    parser.add_argument("--weights", metavar="W", help="weights file (default: the shipped speech model)")
    parser.add_argument("--mic", metavar="NAME|INDEX", help="the audio input (default: the system's)")
    parser.add_argument("--threshold", type=float, help="the smoothed score that fires a command")
    parser.add_argument("--wake", metavar="W", help="a wake word: \"smart mirror\" (shipped) or its weights (livecmd custom); commands count only in the 5 s after it")
    parser.add_argument("--plain", action="store_true", help="one line per command instead of the grid")
    args = parser.parse_args(argv)

    world, console = World(), Console()
    view = nullcontext() if args.plain else Live(draw(world, "-"), console=console, auto_refresh=False)
    try:
        with view as live:
            for heard in livecmd.listen(args.input, args.weights, realtime=not args.fast, mic=args.mic, threshold=args.threshold,
                                          only=COMMANDS if args.weights is None else None, wake=args.wake):
                world = world if heard.wake else command(world, heard.label, heard.time)  # the wake word: listening
                if args.plain:
                    print(f"{heard.time:6.2f}s {heard.label:<6} -> x={world.x} y={world.y} "
                          f"{'moving ' + world.heading if world.moving else 'halted'} light={'on' if world.light else 'off'}")
                else:
                    live.update(draw(world, f"{heard.label} ({heard.score:.2f}) at {heard.time:.1f} s"), refresh=True)
    except livecmd.LivecmdError as e:
        print(f"voice_control: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
