"""The `livecmd` command line. Thin: parse options, call one function, and turn a LivecmdError
into one line on stderr with exit code 2."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import typer

from livecmd import __version__, interrupts
from livecmd.domains import DOMAINS
from livecmd.errors import LivecmdError

# The choices the help shows, as metavars: their owners (the domains table, models.ARCHS,
# engine.ENGINES, ...) check the values and refuse others in one line, and most of them import
# torch, which the CLI loads only for the command that runs. tests/test_cli.py checks that these
# and the owners' lists agree.
DOMAIN = "|".join(DOMAINS)
ARCH = "samplecnn|rese2multi"
AMP = "auto|off|bf16|fp16"
DEVICE = "auto|cpu|cuda[:N]"
ENGINE = "auto|cached|folded|torch"
PRECISION = "auto|bf16|fp32"
OPTIMIZER = "sgd|adamw"
SPLIT = "test|valid"

app = typer.Typer(
    help="Raw-waveform audio classification (SampleCNN, ReSE-2-Multi) and live voice commands.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",  # docstrings' line breaks are for the source, not the help
)


def _print_version(value: bool) -> None:
    if value:
        print(f"livecmd {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: bool = typer.Option(False, "--version", metavar="", callback=_print_version, is_eager=True, help="Print livecmd's version and exit."),
) -> None:
    """Raw-waveform audio classification (SampleCNN, ReSE-2-Multi) and live voice commands."""


def _train_module(name: str, command: str) -> ModuleType:
    """`train`'s module `name`, imported when a command needs it: the training code is part of a
    checkout (its top-level `train/` folder, beside this package when it runs from a checkout,
    installed editable or not), not of an installed wheel."""
    checkout = str(Path(__file__).resolve().parent.parent)
    if Path(checkout, "train", "__init__.py").is_file() and checkout not in sys.path:
        sys.path.insert(0, checkout)  # the checkout's own train/, before any other `train` on the path
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name not in ("train", name):
            raise
        raise LivecmdError(
            f"{command} needs a checkout of livecmd (its train/ folder): git clone the repository and "
            "`pip install -e .` there; an installed wheel carries listen, info, visualize and export only"
        ) from None


@app.command()
def listen(
    input: Path | None = typer.Option(None, "--input", metavar="FILE", help="Listen to a clip (any format soundfile decodes; resampled to the model's rate) instead of the microphone.", show_default=False),
    fast: bool = typer.Option(False, "--fast", metavar="", help="With --input: read the clip as fast as possible instead of in real time."),
    weights: Path | None = typer.Option(None, "--weights", metavar="W", help="Weights file (.safetensors); by default the shipped speech weights in weights/.", show_default=False),
    device: str = typer.Option("auto", "--device", metavar=DEVICE, help="Compute device (as in train and eval); the audio input is --mic."),
    mic: str | None = typer.Option(None, "--mic", metavar="NAME|INDEX", help="Audio input device: its index or part of its name, from --list-devices (by default the system's default input).", show_default=False),
    mic_rate: int | None = typer.Option(None, "--mic-rate", metavar="HZ", min=1, help="Capture at this rate and resample to the model's. \\[default: the model's rate, or the device's own where it refuses that]", show_default=False),
    list_devices: bool = typer.Option(False, "--list-devices", metavar="", help="List the audio input devices, then exit."),
    json_lines: bool = typer.Option(False, "--json", metavar="", help="One JSON line per detection on stdout ({time, label, score, latency_ms}, and from a microphone at: the local date and time) instead of the live view."),
    hop_ms: float = typer.Option(100.0, "--hop-ms", metavar="MS", help="A window ends every this many ms (more than 0, at most the model's window; the cached engine rounds it to 5.0625-ms steps)."),
    smooth_ms: float = typer.Option(300.0, "--smooth-ms", metavar="MS", help="Scores are averaged over this span of windows (0: no smoothing)."),
    threshold: list[str] = typer.Option([], "--threshold", metavar="[LABEL=]SCORE", help="Smoothed score that fires an event: 0.6 for every label, yes=0.8 for one; repeatable. \\[default: the threshold the weights were tuned for (the shipped speech model's is in its card), else 0.5]", show_default=False),
    refractory_ms: float = typer.Option(1000.0, "--refractory-ms", metavar="MS", help="No other event this soon after one (per label for multi-label models)."),
    hold_ms: float | None = typer.Option(None, "--hold-ms", metavar="MS", min=0.0, help="A score must stay above its threshold this long before it fires (brief peaks in music stay silent). \\[default: the weights' own, else 0]", show_default=False),
    max_utterance_ms: float | None = typer.Option(None, "--max-utterance-ms", metavar="MS", min=0.0, help="Fire only on a command said alone: not while the run of voice it is part of has lasted longer than this (talk in the room fires less; a command inside a sentence is missed). 0: any length. \\[default: the weights' own (the shipped speech model's: 1200), else 0]", show_default=False),
    peak_ms: float | None = typer.Option(None, "--peak-ms", metavar="MS", min=0.0, help="Peak picking: an event waits until no score has risen for this long (100: one hop), then fires the word that peaked highest (the first word over its threshold is not always the one said): a few more commands found, about 0.1 s later. 0: fire on the first window that holds. Multi-class models only. \\[default: the weights' own (the shipped speech model's: 100), else 0]", show_default=False),
    slow_speech: bool | None = typer.Option(None, "--slow-speech/--no-slow-speech", metavar="", help="Hear each window a second time as the 1.25 s that end with it, played 1.25 times as fast, for phrases said slower than the model's 1-s window: more of real people's custom words found, about 50 ms later, on a second engine. \\[default: the weights' own: on for `livecmd custom`'s words and the shipped wake word, off for the shipped model; a --wake word's model always keeps its own]", show_default=False),
    agc: bool = typer.Option(True, "--agc/--no-agc", metavar="", help="Automatic gain control (speech models): a quiet microphone's audio is brought up to the level the model knows, by at most 30 dB; loud audio is left as it is."),
    only: list[str] = typer.Option([], "--only", metavar="LABEL,...", help="Listen for these labels alone, e.g. --only yes,no,stop (repeatable; a label with a comma in it whole): the model's other words count as _unknown_, so an app that needs three commands is not woken by the rest (fewer false activations).", show_default=False),
    wake: str | None = typer.Option(None, "--wake", metavar="W", help="A wake word: one shipped with livecmd (\"smart mirror\") or the weights `livecmd custom --words \"hey mirror\"` wrote. Commands count only in the --wake-s seconds after it is heard, as with a voice assistant; music and talk then almost never fire a command. Behind it the commands need not be said alone (--max-utterance-ms 0 unless given).", show_default=False),
    wake_s: float = typer.Option(5.0, "--wake-s", metavar="SECONDS", help="With --wake: how long after the wake word commands are heard."),
    wake_threshold: float | None = typer.Option(None, "--wake-threshold", metavar="SCORE", help="With --wake: the wake word's smoothed score that fires. \\[default: the threshold its weights were tuned for]", show_default=False),
    reconnect: bool = typer.Option(False, "--reconnect", metavar="", help="When the microphone goes away (unplugged, out of range, its sound server restarted) or is not there yet, wait for it instead of stopping: for listen left on all day. Captures what --mic names (without it, the default input of the moment) once there is one; the time away counts as dropped audio."),
    buffer_s: float = typer.Option(4.0, "--buffer-s", metavar="SECONDS", help="Ring buffer in seconds: how far scoring may fall behind before the oldest audio is dropped."),
    duration: float | None = typer.Option(None, "--duration", metavar="SECONDS", help="Stop after this many seconds of audio (by default at the end of the clip, or Ctrl-C).", show_default=False),
    engine: str = typer.Option("auto", "--engine", metavar=ENGINE, help="Inference: cached (a CPU engine that computes the rows overlapping windows share once; rounds the hop to a multiple of 81 samples, 5.06 ms), folded (the same math, each window in full, at the exact hop), torch (the model's own forward; CPU or CUDA), or auto (cached on a CPU for SampleCNN, torch otherwise)."),
    threads: int = typer.Option(1, "--threads", metavar="N", min=1, help="CPU compute threads (one keeps latency steady beside other busy processes)."),
    precision: str = typer.Option("auto", "--precision", metavar=PRECISION, help="The cached and folded engines' arithmetic: bf16, fp32 (scores as the torch engine's), or auto (bf16 on CPUs with bf16 matrix units, AMX or AVX512-BF16)."),
) -> None:
    """Recognize commands live from the microphone or a clip: a sliding window every --hop-ms, smoothed detections in a live view or as JSON lines."""
    from livecmd.stream.listen import ListenOptions, listen as run_listen, print_devices

    if list_devices:
        print_devices()
        return
    run_listen(ListenOptions(
        input=input, fast=fast, mic=mic, mic_rate=mic_rate, weights=weights, device=device, json=json_lines,
        hop_ms=hop_ms, smooth_ms=smooth_ms, thresholds=tuple(threshold), refractory_ms=refractory_ms, hold_ms=hold_ms,
        max_utterance_ms=max_utterance_ms, peak_ms=peak_ms, slow_speech=slow_speech, agc=agc, only=tuple(only) or None, wake=wake, wake_s=wake_s, wake_threshold=wake_threshold, reconnect=reconnect, buffer_s=buffer_s, duration=duration, engine=engine, threads=threads,
        precision=precision,
    ))


@app.command()
def info() -> None:
    """Show the torch version, the device livecmd would use, and the paper's six models."""
    from livecmd.report import print_info

    print_info()


@app.command()
def train(
    domain: str = typer.Option(..., "--domain", metavar=DOMAIN, help="The paper's task: speech commands, music tags (MagnaTagATune) or sound events (DCASE 2017)."),
    data: Path = typer.Option(..., "--data", metavar="PATH", help="The dataset folder, in its real layout (Speech Commands release or 12-class test set, MagnaTagATune, DCASE 2017 task 4)."),
    arch: str = typer.Option("samplecnn", "--arch", metavar=ARCH, help="The paper's SampleCNN or ReSE-2-Multi."),
    epochs: int = typer.Option(50, "--epochs", metavar="N", min=1, help="Epochs in all (a resumed run goes on up to this many)."),
    batch_size: int = typer.Option(23, "--batch-size", metavar="N", min=1, help="Clips per step and process (the paper's 23)."),
    lr: float | None = typer.Option(None, "--lr", metavar="RATE", help="Learning rate. \\[default: 0.01 for sgd (the paper's), 0.001 for adamw]", show_default=False),
    optimizer: str = typer.Option("sgd", "--optimizer", metavar=OPTIMIZER, help="sgd (the paper's: Nesterov momentum 0.9) or adamw."),
    out: Path | None = typer.Option(None, "--out", metavar="DIR", help="Run folder: best.safetensors, last.safetensors, metrics.jsonl. \\[default: runs/<domain>-<arch>-<time>/]", show_default=False),
    resume: bool = typer.Option(False, "--resume", metavar="", help="Continue the run in --out from its last checkpoint, with that run's settings."),
    device: str = typer.Option("auto", "--device", metavar=DEVICE, help="Compute device."),
    amp: str = typer.Option("auto", "--amp", metavar=AMP, help="Mixed precision: auto (bf16 on GPUs and on CPUs with bf16 units, else fp32), bf16, fp16 (CUDA), off."),
    workers: int | None = typer.Option(None, "--workers", metavar="N", min=0, help="DataLoader worker processes. \\[default: half the cores; decoding the cache uses all]", show_default=False),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seeds weights, data order, windows, augmentation and dropout."),
    cache: Path | None = typer.Option(None, "--cache", metavar="DIR", help="Decoded-audio cache. \\[default: $LIVECMD_CACHE or ~/.cache/livecmd]", show_default=False),
    augment: bool = typer.Option(True, "--augment/--no-augment", metavar="", help="Speech: random time shift, background noise at a random SNR, gain."),
    shift_ms: float = typer.Option(100.0, "--shift-ms", metavar="MS", min=0.0, help="Speech augmentation: the largest random time shift, either way (wider suits the sliding windows of listen)."),
    whole_words: bool = typer.Option(False, "--whole-words", metavar="", help="Speech augmentation: draw only shifts that keep the clip's word whole in the window (with a wide --shift-ms: each word anywhere it fits, as listen's windows see it)."),
    cut_words: float = typer.Option(0.0, "--cut-words", min=0.0, max=1.0, metavar="P", help="Speech augmentation (12-class data): this share of words is cut by the window's edge and trained as _unknown_, so that listen waits for whole words."),
    speed: float = typer.Option(0.0, "--speed", min=0.0, max=0.5, metavar="P", help="Speech augmentation: every window played 1 ± up to P times as fast (pitch and formants move with it: voices the data does not have), e.g. 0.15."),
    room: float = typer.Option(0.0, "--room", min=0.0, max=1.0, metavar="P", help="Speech augmentation: with probability P each window is said in a random room (reverberation 0.15-0.6 s), and with P again heard through a random microphone band, at its own level, e.g. 0.5."),
    quiet_db: float = typer.Option(12.0, "--quiet-db", min=0.0, metavar="DB", help="Speech augmentation: every window played at a random gain from this many dB softer to 6 dB louder than its clip (a far or quiet microphone), e.g. 36."),
    input_samples: int | None = typer.Option(None, "--input-samples", metavar="N", min=27, help="Window length in samples, for quick trials. \\[default: the paper's for the domain]", show_default=False),
    checkpoint_minutes: float = typer.Option(10.0, "--checkpoint-minutes", metavar="MINUTES", min=0.0, help="Also save the resumable checkpoint this often within an epoch."),
    keep_epochs: bool = typer.Option(False, "--keep-epochs", metavar="", help="Also write each epoch's weights as epoch-N.safetensors (average them with `python -m train.average`)."),
    init: Path | None = typer.Option(None, "--init", metavar="W", help="Fine-tune: start from these weights (same domain, arch and labels) instead of random ones."),
    negatives: list[Path] = typer.Option([], "--negatives", metavar="DIR", help="Speech: a folder of long recordings without commands (music/, speech/, noise/, mix/ as `python -m train.recipes.negatives` writes; repeat for more folders, e.g. mined hard negatives): random windows train as _unknown_ (voices) or _silence_, and commands are mixed over them.", show_default=False),
    negatives_share: float = typer.Option(0.3, "--negatives-share", min=0.0, metavar="P", help="Negative windows an epoch, as a share of the training clips (split equally between --negatives folders)."),
    epoch_windows: str | None = typer.Option(None, "--epoch-windows", metavar="all|random", help="Per clip per epoch: every segment the test reads (all: the authors' MTAT and DCASE training) or one window at a random offset. \\[default: all for mtat and dcase, random for speech]", show_default=False),
    train_splits: str | None = typer.Option(None, "--train-splits", metavar="train|train+test", help="Speech Commands release: train on the training clips, or on every clip outside validation_list.txt (train+test: the paper's 57,929; the test list is then no test). \\[default: train]", show_default=False),
    valid_from: str | None = typer.Option(None, "--valid-from", metavar="holdout|evaluation", help="DCASE: validate on 11.45% of the training clips held out (holdout: the paper's 45,313 / 5,859) or on the evaluation CSV's clips (evaluation). \\[default: holdout]", show_default=False),
    lr_scale: str = typer.Option("linear", "--lr-scale", metavar="linear|none", help="Under torchrun with N processes (a step averages N batches): lr × N (linear) or the lr as given (none)."),
    sync_bn: bool = typer.Option(False, "--sync-bn", metavar="", help="Under torchrun on GPUs: BatchNorm statistics over every process's batch (SyncBatchNorm; needs CUDA)."),
) -> None:
    """Train a model on a dataset in its real layout. Ctrl-C saves a resumable checkpoint (exit code 130); run the same command with --out RUN --resume to continue. Runs under `torchrun --nproc_per_node N -m livecmd train ...` with DistributedDataParallel. Needs a checkout of livecmd (its train/ folder)."""
    fit = _train_module("train.fit", "train")
    TrainConfig, run_train = fit.TrainConfig, fit.train

    outcome = run_train(TrainConfig(
        domain=domain, data=data, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
        out=out, resume=resume, device=device, amp=amp, workers=workers, seed=seed, cache=cache, augment=augment, shift_ms=shift_ms,
        whole_words=whole_words, cut_words=cut_words, speed=speed, room=room, quiet_db=quiet_db, input_samples=input_samples, checkpoint_minutes=checkpoint_minutes, init=init, keep_epochs=keep_epochs,
        negatives=tuple(negatives), negatives_share=negatives_share,
        epoch_windows=epoch_windows, train_splits=train_splits, valid_from=valid_from, lr_scale=lr_scale, sync_bn=sync_bn,
    ))
    if outcome.interrupted:
        raise typer.Exit(130)
    if os.environ.get("RANK", "0") == "0":  # one line, from torchrun's first process only
        print(f"livecmd train: weights in {outcome.out / 'best.safetensors'} (the best validation epoch); "
              f"{outcome.out / 'last.safetensors'} continues the run with --resume", flush=True)


@app.command(name="eval")
def evaluate(
    domain: str | None = typer.Option(None, "--domain", metavar=DOMAIN, help="speech, mtat or dcase: the paper's metric on a real layout. Without it: one subfolder of recordings per label of the weights (a custom vocabulary), accuracy and confusion matrix.", show_default=False),
    data: Path = typer.Option(..., "--data", metavar="PATH", help="The dataset folder, in its real layout (or, without --domain, LABEL/ subfolders)."),
    weights: Path | None = typer.Option(None, "--weights", metavar="W", help="Weights file (.safetensors), e.g. a run's best.safetensors or weights/speech-samplecnn.safetensors.", show_default=False),
    split: str = typer.Option("test", "--split", metavar=SPLIT, help="The split to score (the 12-class speech test set: test is every clip, valid its held-out speakers)."),
    json_out: bool = typer.Option(False, "--json", metavar="", help="Also print the result as one JSON object on the last line of stdout."),
    device: str = typer.Option("auto", "--device", metavar=DEVICE, help="Compute device."),
    amp: str = typer.Option("auto", "--amp", metavar=AMP, help="Mixed precision (fp16 on CUDA only)."),
    batch_size: int = typer.Option(64, "--batch-size", metavar="N", min=1, help="Windows per forward pass."),
    workers: int | None = typer.Option(None, "--workers", metavar="N", min=0, help="DataLoader worker processes. \\[default: half the cores; decoding the cache uses all]", show_default=False),
    cache: Path | None = typer.Option(None, "--cache", metavar="DIR", help="Decoded-audio cache. \\[default: $LIVECMD_CACHE or ~/.cache/livecmd]", show_default=False),
) -> None:
    """The paper's metric on a dataset split: speech 12-class accuracy (with a confusion matrix), mtat ROC-AUC and PR-AUC, dcase instance F-score; clip scores averaged over the domain's segments. Needs a checkout of livecmd (its train/ folder)."""
    if weights is None:
        raise LivecmdError("eval needs the weights to score: add --weights W (a .safetensors file, e.g. weights/speech-samplecnn.safetensors)")
    evaluation = _train_module("train.evaluate", "eval")

    if domain is None:
        evaluation.evaluate_folders(data, weights, device, batch_size, as_json=json_out)
        return
    evaluation.evaluate(domain, data, weights, split, device, amp, batch_size, workers, cache, as_json=json_out)


@app.command()
def visualize(
    weights: list[Path] = typer.Option(..., "--weights", metavar="W", help="Weights file (.safetensors); repeat to draw one row per model (e.g. speech, mtat, dcase)."),
    layers: str | None = typer.Option(None, "--layers", metavar="1,2,...", help="Layers to draw: 1 is the strided stem, k+1 the k-th block. Default: every layer all the models have.", show_default=False),
    out: Path = typer.Option(Path("filters"), "--out", metavar="DIR", help="Folder for layerN.png (spectra) and layerN-waveforms.png."),
    steps: int = typer.Option(100, "--steps", metavar="N", min=1, help="Gradient-ascent steps per layer."),
    device: str = typer.Option("auto", "--device", metavar=DEVICE, help="Compute device."),
) -> None:
    """The paper's Figure 2: for each filter of a layer, the 729-sample input that maximizes it (gradient ascent from noise), drawn as spectra sorted by peak frequency."""
    from livecmd.visualize import AscentSettings, parse_layers, visualize as run_visualize

    chosen = parse_layers(layers) if layers is not None else None
    run_visualize(weights, out, chosen, AscentSettings(steps=steps), device)


@app.command()
def export(
    weights: Path = typer.Option(..., "--weights", metavar="W", help="Weights file (.safetensors)."),
    fmt: str = typer.Option("onnx", "--format", metavar="onnx", help="Output format."),
    out: Path = typer.Option(..., "--out", metavar="FILE", help="The file to write, e.g. speech.onnx."),
    batch: str = typer.Option("dynamic", "--batch", metavar="dynamic|N", help="Batch size of the model's input: dynamic (any) or a fixed N."),
) -> None:
    """Export weights to ONNX (input `waveform` (batch, samples) float32, output `logits`, labels and sample rate in the metadata), then check it against torch with onnxruntime. Needs the optional extra: pip install 'livecmd\\[export]'."""
    from livecmd.export import export as run_export

    run_export(weights, out, fmt, batch)


@app.command()
def synth(
    out: str | None = typer.Option(None, "--out", metavar="DIR", help="Folder to write: WORD/SPEAKER_nohash_N.wav, 16 kHz, 1 s. Words only, no _background_noise_.", show_default=False),
    words: str = typer.Option("", metavar="WORD,...", help="Comma-separated words; a phrase may have spaces (its folder joins them with _, as `custom` labels it). Default: Speech Commands v0.01's 30 (the 10 commands and 20 words for _unknown_).", show_default=False),
    voices: str = typer.Option("all", metavar="all|NAME,...", help="all, or comma-separated engines (espeak-ng, mbrola, flite, festival, pico, piper) or engine:voice names from --list."),
    per_voice: int = typer.Option(5, "--per-voice", metavar="N", min=1, help="Takes per voice and word, each with its own rate, pitch, loudness and place in the second."),
    seed: int = typer.Option(0, metavar="N", min=0, help="The same seed writes the same files."),
    workers: int = typer.Option(0, metavar="N", min=0, help="Parallel synthesis jobs. Default: one per CPU core.", show_default=False),
    list_voices: bool = typer.Option(False, "--list", metavar="", help="List every voice, whether it is installed and its packages, then exit."),
) -> None:
    """Synthesize Speech Commands-style clips with the offline text-to-speech voices installed here."""
    run = _train_module("train.synth", "synth").run

    run(out, words, voices, per_voice, seed, workers, list_voices)


@app.command()
def custom(
    words: str = typer.Option(..., "--words", metavar="W1,W2,...", help="Your words, comma-separated; a phrase may have spaces (its label joins them with _)."),
    out: Path = typer.Option(..., "--out", metavar="FILE", help="The weights to write (.safetensors): labels your words, _unknown_, _silence_."),
    takes: Path | None = typer.Option(None, "--takes", metavar="DIR", help="Your own recordings, DIR/LABEL/*.wav (`livecmd record` writes them).", show_default=False),
    minutes: float = typer.Option(20.0, "--minutes", metavar="MINUTES", help="Time budget after the synthesis: more windows and epochs the longer."),
    voices: str = typer.Option("all", "--voices", metavar="all|NAMES", help="all, or comma-separated engines or engine:voice names from `livecmd synth --list`."),
    per_voice: int = typer.Option(6, "--per-voice", metavar="N", min=1, help="Takes of each word per voice."),
    trainable: int = typer.Option(3, "--trainable", metavar="N", min=1, max=8, help="Blocks of the shipped model fine-tuned at the top; the others stay frozen."),
    seed: int = typer.Option(0, "--seed", metavar="N", min=0, help="Seeds the synthesis, the windows and the training."),
    negatives: list[Path] = typer.Option([], "--negatives", metavar="DIR", help="Folders of long recordings without your words (music/, speech/, noise/, mix/ as `python -m train.recipes.negatives` writes; repeat for more): windows of voices train as _unknown_, of music and noise as _silence_, and your words are mixed over them, so that music and talk fire less; other recordings of them tune listen's threshold and hold.", show_default=False),
    speed: float = typer.Option(0.0, "--speed", min=0.0, max=0.5, metavar="P", help="Play your words (synthetic voices and takes) and the other words 1 ± up to P times as fast while training (pitch and formants move with it: voices the TTS voices are not), e.g. 0.15."),
) -> None:
    """Learn your own words from the offline TTS voices installed here (and your takes): a model
    `listen`, `eval` and `export` use as they are, with its tuned threshold and hold."""
    module = _train_module("train.custom", "custom")

    module.run(module.CustomConfig(words=words, out=out, takes=takes, minutes=minutes, voices=voices, per_voice=per_voice,
                                   trainable=trainable, seed=seed, negatives=tuple(negatives), speed=speed))


@app.command()
def record(
    words: str = typer.Option(..., "--words", metavar="W1,W2,...", help="The words to record, comma-separated, as for `livecmd custom`."),
    takes: int = typer.Option(5, "--takes", metavar="N", min=1, help="Takes of each word."),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Folder to write: LABEL/SPEAKER_nohash_N.wav (what `custom --takes` reads); earlier takes are kept."),
    mic: str | None = typer.Option(None, "--mic", metavar="NAME|INDEX", help="Audio input device, from `livecmd listen --list-devices` (by default the system's default input).", show_default=False),
    seconds: float = typer.Option(2.5, "--seconds", metavar="SECONDS", help="Length of each take: say the word once while the bar runs."),
    tries: int = typer.Option(5, "--tries", metavar="N", min=1, help="Attempts per take before giving up."),
    speaker: str | None = typer.Option(None, "--speaker", metavar="NAME", help="Your name, hashed into the file names. \\[default: the login name]", show_default=False),
) -> None:
    """Record your own takes of your words from the microphone, with a level meter; takes that
    are clipped, too quiet or cut off are refused with the reason and asked for again."""
    from livecmd.record import RecordSettings, record as run_record

    run_record(RecordSettings(words=words, takes=takes, out=out, mic=mic, seconds=seconds, tries=tries, speaker=speaker))


def main() -> None:
    """The CLI (`livecmd.__main__` imports it and calls this). A Ctrl-C that the command does
    not handle itself (while it starts, loads a model or decodes data) ends it with one line and
    exit code 130. So does an error that follows a Ctrl-C: a library that meets the
    KeyboardInterrupt in its own callbacks may report something else instead (safetensors, when
    one lands as it reads a tensor: "could not determine the shape of object type
    'torch.storage.UntypedStorage'", which read as a broken weights file)."""
    try:
        with interrupts.caught():
            try:
                app()
            except Exception:
                if interrupts.pressed():
                    raise KeyboardInterrupt from None
                raise
    except LivecmdError as e:
        print(f"livecmd: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        interrupts.end()
    except SystemExit as e:  # typer turns a KeyboardInterrupt into a silent exit 130
        if e.code == 130 and _caused_by_ctrl_c(e):
            interrupts.end()
        raise


def _caused_by_ctrl_c(error: BaseException | None) -> bool:
    while error is not None and not isinstance(error, KeyboardInterrupt):
        error = error.__cause__ or error.__context__
    return error is not None
