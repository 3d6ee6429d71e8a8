#!/usr/bin/env bash
# The recipe of the shipped speech model (weights/speech-samplecnn.safetensors).
#
#   bash train/recipes/ship_speech.sh WORK_DIR [EPOCHS]
#
# Data (none of it is in the repository): part A of the official Speech Commands v0.02 12-class
# test set and the Speech Commands v0.01 sample with its real background noise, from
# ../shared/data (or $LIVECMD_SHARED/data), plus synthetic words from every offline voice
# installed (`livecmd synth`: the ten commands, 5 takes a voice; ten other words, 2 takes a voice,
# for _unknown_). train.merge links them into one 12-class folder; 10% of the speakers (a salted
# hash of the speaker id) are held out for validation, and the figure in the model card is
# `livecmd eval --split valid` on part A alone: real speakers the model never trained on.
set -euo pipefail
work=${1:?usage: ship_speech.sh WORK_DIR [EPOCHS]}
epochs=${2:-20}
repo=$(cd "$(dirname "$0")/../.." && pwd)
data=${LIVECMD_SHARED:-$repo/../shared}/data
mkdir -p "$work"

commands=yes,no,up,down,left,right,on,off,stop,go
others=bed,bird,cat,dog,happy,house,marvin,sheila,tree,wow
[ -d "$work/synth-commands" ] || livecmd synth --out "$work/synth-commands" --words "$commands" --per-voice 5 --seed 0
[ -d "$work/synth-others" ] || livecmd synth --out "$work/synth-others" --words "$others" --per-voice 2 --seed 0
[ -d "$work/merged" ] || python -m train.merge "$work/merged" \
  "$data/speech_commands_test_set_v0.02_part_a" "$data/speech_commands_v0.01_sample" \
  "$work/synth-commands" "$work/synth-others"

# One torch thread per process is steadier than two on a 2-core machine that does other work.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} livecmd train --domain speech --data "$work/merged" \
  --arch samplecnn --optimizer adamw --epochs "$epochs" --batch-size 32 --seed 0 --out "$work/run"

# Score part A's held-out speakers and write weights/speech-samplecnn.safetensors (+ .eval.json).
python -m train.recipes.ship "$work/run/best.safetensors" "$data/speech_commands_test_set_v0.02_part_a" \
  "$repo/weights/speech-samplecnn.safetensors"
