"""The `livecmd` command line. Thin: parse options, call one function, and turn a LivecmdError
into one line on stderr with exit code 2."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

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


@app.command()
def train(
    domain: str = typer.Option(..., "--domain", help="speech, mtat or dcase."),
    data: Path = typer.Option(..., "--data", metavar="PATH", help="The dataset folder, in its real layout (Speech Commands release or 12-class test set, MagnaTagATune, DCASE 2017 task 4)."),
    arch: str = typer.Option("samplecnn", "--arch", help="samplecnn or rese2multi."),
    epochs: int = typer.Option(50, "--epochs", min=1, help="Epochs in all (a resumed run goes on up to this many)."),
    batch_size: int = typer.Option(23, "--batch-size", min=1, help="Clips per step and process (the paper's 23)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate. \\[default: 0.01 for sgd (the paper's), 0.001 for adamw]", show_default=False),
    optimizer: str = typer.Option("sgd", "--optimizer", help="sgd (the paper's: Nesterov momentum 0.9) or adamw."),
    out: Path | None = typer.Option(None, "--out", metavar="DIR", help="Run folder: best.safetensors, last.safetensors, metrics.jsonl. \\[default: runs/<domain>-<arch>-<time>/]", show_default=False),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint, with that run's settings."),
    device: str = typer.Option("auto", "--device", help="Compute device: auto, cpu or cuda."),
    amp: str = typer.Option("auto", "--amp", help="Mixed precision: auto (bf16 on GPUs and on CPUs with bf16 units, else fp32), bf16, fp16 (CUDA), off."),
    workers: int | None = typer.Option(None, "--workers", min=0, help="DataLoader worker processes. \\[default: half the cores; decoding the cache uses all]", show_default=False),
    seed: int = typer.Option(0, "--seed", help="Seeds weights, data order, windows, augmentation and dropout."),
    cache: Path | None = typer.Option(None, "--cache", metavar="DIR", help="Decoded-audio cache. \\[default: $LIVECMD_CACHE or ~/.cache/livecmd]", show_default=False),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Speech: random time shift, background noise at a random SNR, gain."),
    shift_ms: float = typer.Option(100.0, "--shift-ms", min=0.0, help="Speech augmentation: the largest random time shift, either way (wider suits the sliding windows of listen)."),
    whole_words: bool = typer.Option(False, "--whole-words", help="Speech augmentation: draw only shifts that keep the clip's word whole in the window (with a wide --shift-ms: each word anywhere it fits, as listen's windows see it)."),
    cut_words: float = typer.Option(0.0, "--cut-words", min=0.0, max=1.0, metavar="P", help="Speech augmentation (12-class data): this share of words is cut by the window's edge and trained as _unknown_, so that listen waits for whole words."),
    input_samples: int | None = typer.Option(None, "--input-samples", min=27, help="Window length in samples, for quick trials. \\[default: the paper's for the domain]", show_default=False),
    checkpoint_minutes: float = typer.Option(10.0, "--checkpoint-minutes", min=0.0, help="Also save the resumable checkpoint this often within an epoch."),
    keep_epochs: bool = typer.Option(False, "--keep-epochs", help="Also write each epoch's weights as epoch-N.safetensors (average them with `python -m train.average`)."),
    init: Path | None = typer.Option(None, "--init", metavar="W", help="Fine-tune: start from these weights (same domain, arch and labels) instead of random ones."),
) -> None:
    """Train a model on a dataset in its real layout. Ctrl-C saves a resumable checkpoint (exit
    code 130); run the same command with --out RUN --resume to continue. Runs under
    `torchrun --nproc_per_node N -m livecmd train ...` with DistributedDataParallel."""
    from train.fit import TrainConfig, train as run_train

    outcome = run_train(TrainConfig(
        domain=domain, data=data, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
        out=out, resume=resume, device=device, amp=amp, workers=workers, seed=seed, cache=cache, augment=augment, shift_ms=shift_ms,
        whole_words=whole_words, cut_words=cut_words, input_samples=input_samples, checkpoint_minutes=checkpoint_minutes, init=init, keep_epochs=keep_epochs,
    ))
    if outcome.interrupted:
        raise typer.Exit(130)


@app.command(name="eval")
def evaluate(
    domain: str | None = typer.Option(None, "--domain", help="speech, mtat or dcase: the paper's metric on a real layout. Without it: one subfolder of recordings per label of the weights (a custom vocabulary), accuracy and confusion matrix.", show_default=False),
    data: Path = typer.Option(..., "--data", metavar="PATH", help="The dataset folder, in its real layout (or, without --domain, LABEL/ subfolders)."),
    weights: Path = typer.Option(..., "--weights", metavar="W", help="Weights file (.safetensors), e.g. a run's best.safetensors."),
    split: str = typer.Option("test", "--split", help="test or valid (the 12-class speech test set: test is every clip, valid its held-out speakers)."),
    json_out: bool = typer.Option(False, "--json", help="Also print the result as one JSON object on the last line of stdout."),
    device: str = typer.Option("auto", "--device", help="Compute device: auto, cpu or cuda."),
    amp: str = typer.Option("auto", "--amp", help="Mixed precision: auto, bf16, fp16 (CUDA) or off."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass."),
    workers: int | None = typer.Option(None, "--workers", min=0, help="DataLoader worker processes. \\[default: half the cores; decoding the cache uses all]", show_default=False),
    cache: Path | None = typer.Option(None, "--cache", metavar="DIR", help="Decoded-audio cache. \\[default: $LIVECMD_CACHE or ~/.cache/livecmd]", show_default=False),
) -> None:
    """The paper's metric on a dataset split: speech 12-class accuracy (with a confusion
    matrix), mtat ROC-AUC and PR-AUC, dcase instance F-score; clip scores averaged over the
    domain's segments."""
    from train.evaluate import evaluate as run_evaluate, evaluate_folders

    if domain is None:
        evaluate_folders(data, weights, device, batch_size, as_json=json_out)
        return
    run_evaluate(domain, data, weights, split, device, amp, batch_size, workers, cache, as_json=json_out)


@app.command()
def visualize(
    weights: list[Path] = typer.Option(..., "--weights", metavar="W", help="Weights file (.safetensors); repeat to draw one row per model (e.g. speech, mtat, dcase)."),
    layers: str | None = typer.Option(None, "--layers", metavar="1,2,...", help="Layers to draw: 1 is the strided stem, k+1 the k-th block. Default: every layer all the models have.", show_default=False),
    out: Path = typer.Option(Path("filters"), "--out", metavar="DIR", help="Folder for layerN.png (spectra) and layerN-waveforms.png."),
    steps: int = typer.Option(100, "--steps", min=1, help="Gradient-ascent steps per layer."),
    device: str = typer.Option("auto", "--device", help="Compute device: auto, cpu or cuda."),
) -> None:
    """The paper's Figure 2: for each filter of a layer, the 729-sample input that maximizes it
    (gradient ascent from noise), drawn as spectra sorted by peak frequency."""
    from livecmd.visualize import AscentSettings, parse_layers, visualize as run_visualize

    chosen = parse_layers(layers) if layers is not None else None
    run_visualize(weights, out, chosen, AscentSettings(steps=steps), device)


@app.command()
def export(
    weights: Path = typer.Option(..., "--weights", metavar="W", help="Weights file (.safetensors)."),
    fmt: str = typer.Option("onnx", "--format", help="Output format (onnx)."),
    out: Path = typer.Option(..., "--out", metavar="FILE", help="The file to write, e.g. speech.onnx."),
    batch: str = typer.Option("dynamic", "--batch", metavar="dynamic|N", help="Batch size of the model's input: dynamic (any) or a fixed N."),
) -> None:
    """Export weights to ONNX (input `waveform` (batch, samples) float32, output `logits`, labels
    and sample rate in the metadata), then check it against torch with onnxruntime.
    Needs the optional extra: pip install 'livecmd\\[export]'."""
    from livecmd.export import export as run_export

    run_export(weights, out, fmt, batch)


@app.command()
def listen(
    input: Path | None = typer.Option(None, "--input", metavar="FILE", help="Listen to a clip (any format soundfile decodes; resampled to the model's rate) instead of the microphone.", show_default=False),
    fast: bool = typer.Option(False, "--fast", help="With --input: read the clip as fast as possible instead of in real time."),
    weights: Path | None = typer.Option(None, "--weights", metavar="W", help="Weights file (.safetensors); by default the shipped speech weights in weights/.", show_default=False),
    device: str = typer.Option("auto", "--device", help="Compute device: auto, cpu or cuda (as in train and eval). The audio input is --mic."),
    mic: str | None = typer.Option(None, "--mic", metavar="NAME|INDEX", help="Audio input device: its index or part of its name, from --list-devices (by default the system's default input).", show_default=False),
    mic_rate: int | None = typer.Option(None, "--mic-rate", metavar="HZ", min=1, help="Capture at this rate and resample to the model's. \\[default: the model's rate, or the device's own where it refuses that]", show_default=False),
    list_devices: bool = typer.Option(False, "--list-devices", help="List the audio input devices, then exit."),
    json_lines: bool = typer.Option(False, "--json", help="One JSON line per detection on stdout ({time, label, score, latency_ms}) instead of the live view."),
    hop_ms: float = typer.Option(100.0, "--hop-ms", help="A window ends every this many ms (more than 0, at most the model's window; the cached engine rounds it to 5.0625-ms steps)."),
    smooth_ms: float = typer.Option(300.0, "--smooth-ms", help="Scores are averaged over this span of windows."),
    threshold: list[str] = typer.Option([], "--threshold", metavar="[LABEL=]SCORE", help="Smoothed score that fires an event: 0.6 for every label, yes=0.8 for one; repeatable. \\[default: the threshold the weights were tuned for (the shipped speech model's is in its card), else 0.5]", show_default=False),
    refractory_ms: float = typer.Option(1000.0, "--refractory-ms", help="No other event this soon after one (per label for multi-label models)."),
    buffer_s: float = typer.Option(4.0, "--buffer-s", help="Ring buffer in seconds: how far scoring may fall behind before the oldest audio is dropped."),
    duration: float | None = typer.Option(None, "--duration", metavar="SECONDS", help="Stop after this many seconds of audio (by default at the end of the clip, or Ctrl-C).", show_default=False),
    engine: str = typer.Option("auto", "--engine", help="Inference: cached (a CPU engine that computes the rows overlapping windows share once; rounds the hop to a multiple of 81 samples, 5.06 ms), folded (the same math, each window in full, at the exact hop), torch (the model's own forward; CPU or CUDA), or auto (cached on a CPU for SampleCNN, torch otherwise)."),
    threads: int = typer.Option(1, "--threads", min=1, help="CPU compute threads (one keeps latency steady beside other busy processes)."),
    precision: str = typer.Option("auto", "--precision", help="cached and folded engines: bf16, fp32 (scores as the torch engine's), or auto (bf16 on CPUs with bf16 matrix units, AMX or AVX512-BF16)."),
) -> None:
    """Recognize commands live from the microphone (or a clip): a sliding window every --hop-ms,
    smoothed detections in a live view or as JSON lines. --device is the compute device
    (auto|cpu|cuda, as in train and eval); --mic is the audio input (see --list-devices)."""
    from livecmd.stream.listen import ListenOptions, listen as run_listen, print_devices

    if list_devices:
        print_devices()
        return
    run_listen(ListenOptions(
        input=input, fast=fast, mic=mic, mic_rate=mic_rate, weights=weights, device=device, json=json_lines,
        hop_ms=hop_ms, smooth_ms=smooth_ms, thresholds=tuple(threshold), refractory_ms=refractory_ms,
        buffer_s=buffer_s, duration=duration, engine=engine, threads=threads, precision=precision,
    ))


@app.command()
def synth(
    out: str | None = typer.Option(None, "--out", metavar="DIR", help="Folder to write: WORD/SPEAKER_nohash_N.wav, 16 kHz, 1 s. Words only, no _background_noise_.", show_default=False),
    words: str = typer.Option("", help="Comma-separated words. Default: Speech Commands v0.01's 30 (the 10 commands and 20 words for _unknown_).", show_default=False),
    voices: str = typer.Option("all", help="all, or comma-separated engines (espeak-ng, mbrola, flite, festival, pico, piper) or engine:voice names from --list."),
    per_voice: int = typer.Option(5, "--per-voice", min=1, help="Takes per voice and word, each with its own rate, pitch, loudness and place in the second."),
    seed: int = typer.Option(0, min=0, help="The same seed writes the same files."),
    workers: int = typer.Option(0, min=0, help="Parallel synthesis jobs. Default: one per CPU core.", show_default=False),
    list_voices: bool = typer.Option(False, "--list", help="List every voice, whether it is installed and its packages, then exit."),
) -> None:
    """Synthesize Speech Commands-style clips with the offline text-to-speech voices installed here."""
    from train.synth import run

    run(out, words, voices, per_voice, seed, workers, list_voices)


@app.command()
def custom(
    words: str = typer.Option(..., "--words", metavar="W1,W2,...", help="Your words, comma-separated; a phrase may have spaces (its label joins them with _)."),
    out: Path = typer.Option(..., "--out", metavar="FILE", help="The weights to write (.safetensors): labels your words, _unknown_, _silence_."),
    takes: Path | None = typer.Option(None, "--takes", metavar="DIR", help="Your own recordings, DIR/LABEL/*.wav (`livecmd record` writes them).", show_default=False),
    minutes: float = typer.Option(20.0, "--minutes", help="Time budget after the synthesis: more windows and epochs the longer."),
    voices: str = typer.Option("all", "--voices", help="all, or comma-separated engines or engine:voice names from `livecmd synth --list`."),
    per_voice: int = typer.Option(6, "--per-voice", min=1, help="Takes of each word per voice."),
    trainable: int = typer.Option(3, "--trainable", min=1, max=8, help="Blocks of the shipped model fine-tuned at the top; the others stay frozen."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seeds the synthesis, the windows and the training."),
) -> None:
    """Learn your own words from the offline TTS voices installed here (and your takes): a model
    `listen`, `eval` and `export` use as they are, with its tuned threshold."""
    from train.custom import CustomConfig, run

    run(CustomConfig(words=words, out=out, takes=takes, minutes=minutes, voices=voices, per_voice=per_voice, trainable=trainable, seed=seed))


@app.command()
def record(
    words: str = typer.Option(..., "--words", metavar="W1,W2,...", help="The words to record, comma-separated, as for `livecmd custom`."),
    takes: int = typer.Option(5, "--takes", min=1, help="Takes of each word."),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Folder to write: LABEL/SPEAKER_nohash_N.wav (what `custom --takes` reads); earlier takes are kept."),
    mic: str | None = typer.Option(None, "--mic", metavar="NAME|INDEX", help="Audio input device, from `livecmd listen --list-devices` (by default the system's default input).", show_default=False),
    seconds: float = typer.Option(2.5, "--seconds", help="Length of each take: say the word once while the bar runs."),
    tries: int = typer.Option(5, "--tries", min=1, help="Attempts per take before giving up."),
    speaker: str | None = typer.Option(None, "--speaker", help="Your name, hashed into the file names. \\[default: the login name]", show_default=False),
) -> None:
    """Record your own takes of your words from the microphone, with a level meter; takes that
    are clipped, too quiet or cut off are refused with the reason and asked for again."""
    from livecmd.record import RecordSettings, record as run_record

    run_record(RecordSettings(words=words, takes=takes, out=out, mic=mic, seconds=seconds, tries=tries, speaker=speaker))


def main() -> None:
    """Console-script entry point. A Ctrl-C that the command does not handle itself (while it
    starts, loads a model or decodes data) ends it with one line and exit code 130."""
    try:
        app()
    except LivecmdError as e:
        print(f"livecmd: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as e:  # typer turns a KeyboardInterrupt into a silent exit 130
        if e.code == 130 and _caused_by_ctrl_c(e):
            _interrupted()
        raise


def _caused_by_ctrl_c(error: BaseException | None) -> bool:
    while error is not None and not isinstance(error, KeyboardInterrupt):
        error = error.__cause__ or error.__context__
    return error is not None


def _interrupted() -> None:
    """One line, exit code 130 at once. Not sys.exit: a Ctrl-C that landed in code torch runs
    through the C API while it imports makes Python kill itself with SIGINT on the way out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the message short
    print("livecmd: interrupted (Ctrl-C)", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
