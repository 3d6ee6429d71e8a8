"""The live path of `livecmd listen`, one stage per module, each testable alone:

sources (microphone, file) → ring (buffer between the audio thread and the reader) → the
recognizer (`livecmd.recognizer`: windows → engine (scores on CPU or GPU) → decide (smoothing,
thresholds, refractory time → detections)) → sinks (`livecmd.sinks`: live view, JSON lines, a
callback); `listen` wires them. Stages pass plain numpy arrays; none imports another's internals.
"""
