"""`livecmd info`: what this installation would run, on what."""

from __future__ import annotations

import torch
from rich.console import Console
from rich.table import Table

from livecmd.compute import pick_device
from livecmd.domains import DOMAINS
from livecmd.models import ARCHS, build_model, count_parameters


def print_info(console: Console | None = None) -> None:
    console = console or Console()
    device = pick_device("auto")
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    console.print(f"torch {torch.__version__}, device {device}{gpu}")
    table = Table(title="The paper's models (Lee et al. 2017)", caption="input: samples at 16 kHz per window; segments: windows averaged per clip")
    table.add_column("domain", no_wrap=True)
    table.add_column("arch", no_wrap=True)
    for column in ("blocks", "input", "segments", "labels", "parameters"):
        table.add_column(column, justify="right", no_wrap=True)
    for domain in DOMAINS.values():
        for arch in ARCHS:
            params = count_parameters(build_model(domain, arch))
            table.add_row(
                domain.name, arch, str(domain.blocks),
                f"{domain.input_samples:,}",
                str(domain.segments), str(len(domain.labels)), f"{params:,}",
            )
    console.print(table)
