"""The live path of `livecmd listen`, one stage per module, each testable alone:

sources (microphone, file) → ring (buffer between the audio thread and the reader) → windows
(`ring.window_ends`) → engine (scores on CPU or GPU) → decide (smoothing, thresholds,
refractory time → detections) → sinks (`livecmd.ui` live view, JSON lines); `listen` wires them.
Stages pass plain numpy arrays; none imports another's internals.
"""
