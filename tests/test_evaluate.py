"""The paper's metrics (from scikit-learn, on known scores), segment-averaged clip scores, and
`livecmd eval` end to end on a 12-class layout and on the real Speech Commands test set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from sklearn.metrics import accuracy_score, average_precision_score, precision_recall_fscore_support, roc_auc_score

from livecmd import weights
from livecmd.domains import SILENCE, UNKNOWN, get_domain
from livecmd.models import build_model
from tests import tones
from tests.conftest import run_cli, shared_data
from train import cache
from train.datasets import Clip
from train.datasets.windows import Windows
from train.evaluate import clip_scores, metrics, scoring_loader

SPEECH, MTAT, DCASE = get_domain("speech"), get_domain("mtat"), get_domain("dcase")


def _one_hot_scores(labels: tuple[str, ...], predicted: list[str]) -> np.ndarray:
    scores = np.full((len(predicted), len(labels)), 0.01)
    for row, label in enumerate(predicted):
        scores[row, labels.index(label)] = 0.9
    return scores


def test_speech_accuracy_maps_other_words_to_unknown_and_equals_scikit_learn() -> None:
    truth = ["yes", "no", "bed", SILENCE, "cat", "up"]
    predicted = ["yes", "yes", "dog", SILENCE, "up", "up"]  # dog for bed: both _unknown_, right
    result = metrics(SPEECH, SPEECH.labels, [(t,) for t in truth], _one_hot_scores(SPEECH.labels, predicted))
    mapped_truth = ["yes", "no", UNKNOWN, SILENCE, UNKNOWN, "up"]
    mapped_predicted = ["yes", "yes", UNKNOWN, SILENCE, "up", "up"]
    assert result["accuracy"] == pytest.approx(4 / 6) == accuracy_score(mapped_truth, mapped_predicted)
    matrix = np.array(result["confusion_matrix"])
    labels = result["confusion_labels"]
    assert labels == list(SPEECH.test_labels) and matrix.shape == (12, 12) and matrix.sum() == 6
    assert matrix[labels.index("no"), labels.index("yes")] == 1
    assert matrix[labels.index(UNKNOWN), labels.index("up")] == 1
    assert matrix[labels.index(UNKNOWN), labels.index(UNKNOWN)] == 1


def test_mtat_auc_is_the_macro_average_over_tags_that_have_both_classes() -> None:
    rng = np.random.default_rng(0)
    labels = MTAT.labels[:4]
    truth = rng.integers(0, 2, (40, 4))
    truth[:, 3] = 0  # a tag no clip has: no AUC, left out
    truth[:, 0] = np.arange(40) % 2  # a tag the scores separate perfectly
    scores = rng.random((40, 4))
    scores[:, 0] = truth[:, 0] * 0.5 + 0.25
    clips = [tuple(labels[k] for k in range(4) if row[k]) for row in truth]
    result = metrics(MTAT, labels, clips, scores)
    assert result["tags_scored"] == 3
    assert result["roc_auc"] == pytest.approx(roc_auc_score(truth[:, :3], scores[:, :3], average="macro"))
    assert result["pr_auc"] == pytest.approx(average_precision_score(truth[:, :3], scores[:, :3], average="macro"))
    per_tag = [roc_auc_score(truth[:, k], scores[:, k]) for k in range(3)]
    assert per_tag[0] == 1.0 and result["roc_auc"] == pytest.approx(np.mean(per_tag))


def test_dcase_f_score_counts_every_clip_label_pair_at_threshold_one_half() -> None:
    labels = DCASE.labels
    clips = [("Car",), ("Car", "Bus"), ("Train",), ("Screaming",)]
    scores = np.zeros((4, len(labels)))
    scores[0, labels.index("Car")] = 0.9  # TP
    scores[1, labels.index("Car")] = 0.6  # TP
    scores[1, labels.index("Bus")] = 0.4  # FN (below 0.5)
    scores[2, labels.index("Bus")] = 0.7  # FP, and Train a FN
    scores[3, labels.index("Screaming")] = 0.5  # TP (at the threshold)
    result = metrics(DCASE, labels, clips, scores)
    assert result["precision"] == pytest.approx(3 / 4) and result["recall"] == pytest.approx(3 / 5)
    assert result["f_score"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    truth = np.array([[int(l in c) for l in labels] for c in clips])
    p, r, f, _ = precision_recall_fscore_support(truth, (scores >= 0.5).astype(int), average="micro")
    assert (result["precision"], result["recall"], result["f_score"]) == pytest.approx((p, r, f))


def test_clip_scores_are_the_mean_of_the_segment_probabilities(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"clip{i}.wav")
        sf.write(paths[-1], rng.normal(0, 0.1, 20_000).astype(np.float32), 16_000)
    built = cache.build(paths, 16_000, tmp_path / "cache")
    data = Windows(built, [Clip(p, ()) for p in paths], 2_187, segments=12)
    torch.manual_seed(0)
    model = build_model(MTAT, "samplecnn").eval()
    scores = clip_scores(model, scoring_loader(data, 12, 24, 0, False), torch.device("cpu"), None, MTAT.multi_label)
    with torch.no_grad():
        expected = [torch.sigmoid(model(data[i])).mean(dim=0).numpy() for i in range(3)]
    assert scores.shape == (3, 50)
    np.testing.assert_allclose(scores, np.stack(expected), rtol=1e-5, atol=1e-6)


def _tone_test_set(root: Path, speakers: int = 4) -> Path:
    """A 12-class layout the fixed tone model (tests/tones.py) scores perfectly: yes = 250 Hz,
    _unknown_ = 4 kHz (the model's `bed`, a non-command word), _silence_ = faint noise."""
    rng = np.random.default_rng(0)
    for i in range(speakers):
        sid = f"{i:08x}"
        for label, hz, name in (("yes", tones.LOW_HZ, f"{sid}_nohash_0.wav"), (UNKNOWN, tones.HIGH_HZ, f"bed_{sid}_nohash_0.wav.wav")):
            (root / label).mkdir(parents=True, exist_ok=True)
            wave = rng.normal(0, 0.01, 16_000).astype(np.float32)
            wave[4_000:10_400] += tones.tone(hz, 0.4)
            sf.write(root / label / name, wave, 16_000)
        (root / SILENCE).mkdir(exist_ok=True)
        sf.write(root / SILENCE / f"{1000 + i}.wav", rng.normal(0, 0.01, 16_000).astype(np.float32), 16_000)
    return root


def _livecmd(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: steady on a shared 2-core box
    return subprocess.run([sys.executable, "-m", "livecmd", *args], capture_output=True, text=True, timeout=600, env=env)


def test_eval_scores_a_known_model_on_a_twelve_class_layout_and_prints_json_last(tmp_path: Path) -> None:
    root = _tone_test_set(tmp_path / "test_set")
    model = tones.save_tone_model(tmp_path / "tones.safetensors", "speech", labels=("yes", "bed", SILENCE))
    result = _livecmd("eval", "--domain", "speech", "--data", str(root), "--weights", str(model), "--json",
                      "--cache", str(tmp_path / "cache"), "--amp", "off")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["accuracy"] == 1.0 and report["clips"] == 12 and report["split"] == "test"
    assert "confusion matrix" in result.stdout
    labels = report["confusion_labels"]
    assert report["confusion_matrix"][labels.index(UNKNOWN)][labels.index(UNKNOWN)] == 4


def test_eval_refuses_weights_of_another_domain_in_one_line(tmp_path: Path) -> None:
    root = _tone_test_set(tmp_path / "test_set", speakers=1)
    model = tones.save_tone_model(tmp_path / "tones.safetensors", "speech", labels=("yes", "bed", SILENCE))
    result = _livecmd("eval", "--domain", "mtat", "--data", str(root), "--weights", str(model))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "speech model" in result.stderr


@pytest.mark.slow
def test_eval_scores_the_real_speech_commands_test_set_part_a(tmp_path: Path) -> None:
    root = shared_data("speech_commands_test_set_v0.02_part_a")
    torch.manual_seed(0)
    model = build_model(SPEECH, "samplecnn")  # untrained: this checks the path, not the accuracy
    meta = weights.WeightsMeta("samplecnn", "speech", SPEECH.labels, SPEECH.sample_rate, SPEECH.input_samples)
    path = weights.save(tmp_path / "speech.safetensors", model, meta)
    result = _livecmd("eval", "--domain", "speech", "--data", str(root), "--weights", str(path), "--json",
                      "--cache", str(tmp_path / "cache"), "--batch-size", "128")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["clips"] == 2_748 and 0.0 <= report["accuracy"] <= 1.0
    matrix = np.array(report["confusion_matrix"])
    assert matrix.sum() == 2_748
    assert matrix.sum(axis=1).tolist() == [len(list((root / label).glob("*.wav"))) for label in SPEECH.test_labels]


def _trained_on(model: Path, tmp_path: Path, **extra: object) -> Path:
    loaded = weights.load(model)
    return weights.save(tmp_path / f"trained-{len(list(tmp_path.glob('trained-*')))}.safetensors", loaded.model,
                        replace(loaded.meta, extra=dict(extra)))


def test_eval_warns_in_one_line_when_the_weights_trained_on_speakers_of_the_scored_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    root = _tone_test_set(tmp_path / "test_set", speakers=12)
    model = tones.save_tone_model(tmp_path / "tones.safetensors", "speech", labels=("yes", "bed", SILENCE))
    cache_args = ["--cache", str(tmp_path / "cache"), "--amp", "off"]

    errors: list[str] = []

    def warnings(w: Path, *args: str) -> list[str]:
        code, _, err = run_cli(["eval", "--domain", "speech", "--data", str(root), "--weights", str(w), *cache_args, *args], monkeypatch, capsys)
        assert code == 0, err
        errors.append(err)
        return [line for line in err.splitlines() if "warning" in line]

    trained_here = _trained_on(model, tmp_path, data=str(tmp_path / "." / "test_set"))  # the same folder, spelled otherwise
    [line] = warnings(trained_here)
    assert line.startswith("livecmd eval: warning: ") and "speakers these weights trained on" in line and "--split valid" in line
    assert warnings(trained_here, "--split", "valid") == []  # held-out speakers only
    assert warnings(model) == [] and warnings(_trained_on(model, tmp_path, data=str(tmp_path / "elsewhere"))) == []


def test_weights_say_they_trained_on_a_folder_through_its_links_or_their_cards_held_out_score(tmp_path: Path) -> None:
    from train.merge import merge

    root = _tone_test_set(tmp_path / "part_a", speakers=2)
    model = tones.save_tone_model(tmp_path / "tones.safetensors", "speech", labels=("yes", "bed", SILENCE))
    merge(tmp_path / "merged", [root])
    merged = _trained_on(model, tmp_path, data=str(tmp_path / "merged"))
    assert "links into" in weights.trained_on(merged, weights.read_meta(merged), root)
    assert weights.trained_on(merged, weights.read_meta(merged), tmp_path / "other") is None
    carded = _trained_on(model, tmp_path)
    card = carded.with_suffix(".eval.json")
    card.write_text(json.dumps({"split": "test", "data": str(root)}))
    assert weights.trained_on(carded, weights.read_meta(carded), root) is None  # scored on all of it: says nothing of training
    card.write_text(json.dumps({"split": "valid", "data": str(root)}))
    assert card.name in weights.trained_on(carded, weights.read_meta(carded), root)
