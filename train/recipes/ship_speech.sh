#!/usr/bin/env bash
# The recipe of the shipped speech model (weights/speech-samplecnn.safetensors).
#
#   bash train/recipes/ship_speech.sh WORK_DIR
#
# Data (none of it is in the repository): part A of the official Speech Commands v0.02 12-class
# test set and the Speech Commands v0.01 sample with its real background noise, from
# ../shared/data (or $LIVECMD_SHARED/data), plus synthetic words from every offline voice
# installed (`livecmd synth`). train.merge links them into one 12-class folder; 10% of the
# speakers (a salted hash of the speaker id) are held out for validation, and the figure in the
# model card is `livecmd eval --split valid` on part A alone: real speakers the model never
# trained on.
#
# Stage 1 trains from scratch on the ten commands (5 synthetic takes a voice) and ten other words
# (2 takes a voice, for _unknown_). Stage 2 fine-tunes its best weights at a fifth of the lr on
# the same data plus the remaining fifteen Speech Commands words (one take a voice, more
# _unknown_ variety) with time shifts of up to 200 ms, as listen's sliding windows see words.
# Stage 3 fine-tunes stage 2's best on stream-like windows: each word anywhere it fits whole in
# the window, and a fifth of the words cut by the window's edge and trained as _unknown_ (so that
# a word coming in or going out fires nothing); its result is the mean of stage 2's best and
# stage 3's epochs 2 to 4 (train.average), which keeps stage 2's clip accuracy and most of stage
# 3's gain on streams. Stage 4 fine-tunes that mean to stay quiet on the rest of the world
# (music, talk, noise: below) with the extra real Speech Commands clips; stage 5 fine-tunes its
# last epoch on more talk and sped-up and slowed-down voices, and the mean of the two; stage 8
# (stages 6 and 7 of docs/performance.md were measured and not shipped) fine-tunes that mean with
# every window in a random room and microphone, and the mean of the stage-5 mean and stage 8's
# epoch 3 ships.
# Then train.recipes.ship scores the held-out speakers, tunes listen's threshold, hold and
# per-word thresholds on a stream of them and on the training negatives, and writes the weights
# with the figures in their metadata.
set -euo pipefail
work=${1:?usage: ship_speech.sh WORK_DIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
data=${LIVECMD_SHARED:-$repo/../shared}/data
mkdir -p "$work"

commands=yes,no,up,down,left,right,on,off,stop,go
others=bed,bird,cat,dog,happy,house,marvin,sheila,tree,wow
more=zero,one,two,three,four,five,six,seven,eight,nine,backward,forward,follow,learn,visual
[ -d "$work/synth-commands" ] || livecmd synth --out "$work/synth-commands" --words "$commands" --per-voice 5 --seed 0
[ -d "$work/synth-others" ] || livecmd synth --out "$work/synth-others" --words "$others" --per-voice 2 --seed 0
[ -d "$work/synth-unknown2" ] || livecmd synth --out "$work/synth-unknown2" --words "$more" --per-voice 1 --seed 0
real=("$data/speech_commands_test_set_v0.02_part_a" "$data/speech_commands_v0.01_sample")
[ -d "$work/merged" ] || python -m train.merge "$work/merged" "${real[@]}" "$work/synth-commands" "$work/synth-others"
[ -d "$work/merged2" ] || python -m train.merge "$work/merged2" "${real[@]}" "$work/synth-commands" "$work/synth-others" "$work/synth-unknown2"

# One torch thread per process is steadier than two on a 2-core machine that does other work.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# A stage that was interrupted (Ctrl-C, a crash) goes on from its checkpoint when rerun.
go_on() { [ -f "$1/last.safetensors" ] && echo --resume || true; }
livecmd train --domain speech --data "$work/merged" --arch samplecnn --optimizer adamw \
  --epochs 20 --batch-size 32 --seed 0 --out "$work/run" $(go_on "$work/run")
livecmd train --domain speech --data "$work/merged2" --arch samplecnn --optimizer adamw --lr 0.0002 \
  --epochs 10 --batch-size 32 --seed 1 --shift-ms 200 --init "$work/run/best.safetensors" --out "$work/tune" $(go_on "$work/tune")
livecmd train --domain speech --data "$work/merged2" --arch samplecnn --optimizer adamw --lr 0.0002 \
  --epochs 4 --batch-size 32 --seed 2 --shift-ms 1000 --whole-words --cut-words 0.2 --keep-epochs \
  --init "$work/tune/best.safetensors" --out "$work/stream" $(go_on "$work/stream")
python -m train.average "$work/stream-mean.safetensors" "$work/tune/best.safetensors" "$work"/stream/epoch-{2,3,4}.safetensors

# Stage 4, always on: the rest of the world. A negative corpus (music of Debian's game-music
# packages, TTS voices reading text without commands, game sound effects, speech over music; its
# benchmark part is never trained on) and the extra real Speech Commands clips of 1,047 training
# speakers (at most 200 of a word, so the five plentiful commands stay within 2x of the others).
# train.mine lists the windows of the training negatives that stage 3's model fires on (at a
# threshold below listen's); stage 4 fine-tunes on real words with negative windows (as many
# mined ones as from the whole corpus) and commands mixed over music and speech.
# (Built into a .tmp folder and renamed when whole, so that an interrupted build is redone.)
[ -d "$work/negatives" ] || { python -m train.recipes.negatives "$work/negatives.tmp" && mv "$work/negatives.tmp" "$work/negatives"; }
[ -d "$work/merged3" ] || python -m train.merge "$work/merged3" "${real[@]}" "$data/speech_commands_extra_trainval" --max-per-word 200
[ -d "$work/mined" ] || { python -m train.mine "$work/stream-mean.safetensors" "$work/mined.tmp" "$work/negatives/train" \
  --threshold 0.3 --most 3000 --hop-ms 500 --seconds 40 && mv "$work/mined.tmp" "$work/mined"; }
livecmd train --domain speech --data "$work/merged3" --arch samplecnn --optimizer adamw --lr 0.0002 \
  --epochs 3 --batch-size 32 --seed 4 --shift-ms 1000 --whole-words --cut-words 0.2 --keep-epochs --workers 1 \
  --negatives "$work/negatives/train" --negatives "$work/mined" --negatives-share 0.5 \
  --init "$work/stream-mean.safetensors" --out "$work/always" $(go_on "$work/always")

# Stage 5, more talk: talk without commands is what stage 4 still fires on most (130 an hour on
# unseen voices against 11 on music). It fine-tunes stage 4's last epoch at half the lr with a
# second negatives folder of talk (the corpus's train-talk/: the training voices reading 9 more
# minutes each, so talk is five in eight of the negative windows) and speed perturbation (every
# window 0.85-1.15 times as fast: voices the few dozen TTS voices are not). Shipped: the mean of
# stage 4's last epoch and stage 5's last (train.average), which kept stage 4's stream commands
# and most of stage 5's quiet on talk; the stage-5 epoch alone found 2 commands fewer (see
# docs/performance.md). train.recipes.ship scores the held-out speakers, tunes listen's threshold,
# hold and per-word thresholds on the stream and on an hour of each kind of training negative
# (the benchmark part stays unseen), and writes the weights with the figures in their metadata.
# (A corpus built before train-talk/ existed gets it here; what is built already is kept.)
[ -d "$work/negatives/train-talk" ] || python -m train.recipes.negatives "$work/negatives"
livecmd train --domain speech --data "$work/merged3" --arch samplecnn --optimizer adamw --lr 0.0001 \
  --epochs 4 --batch-size 32 --seed 5 --shift-ms 1000 --whole-words --cut-words 0.2 --keep-epochs --workers 1 \
  --speed 0.15 --negatives "$work/negatives/train" --negatives "$work/negatives/train-talk" --negatives-share 0.75 \
  --init "$work/always/epoch-3.safetensors" --out "$work/talk" $(go_on "$work/talk")
python -m train.average "$work/talk-mean.safetensors" "$work/always/epoch-3.safetensors" "$work/talk/epoch-4.safetensors"

# Stage 8, rooms (stages 6 and 7 were measured and not shipped): the people who say the commands are
# in rooms and behind phone and laptop microphones; the clips are close-talk and the synthetic words
# dry. Stage 5's recipe from its mean with `--room 0.5` (train.augment.room_and_microphone: half the
# windows, words and negatives alike, in a random room with RT60 0.15-0.6 s, half through a random
# microphone band). Shipped: the mean of stage 5's mean and stage 8's epoch 3, which found 3 more of
# the tuning stream's commands at the same defaults and raised the held-out clips from 88.2% to
# 89.2%; the epoch alone reached 90.3% on the clips but tuned to threshold 0.9 and 7 of the demo's
# 12, and the mean with epoch 4 lost a demo command (docs/performance.md, "Stage 8, rooms"; that
# run went on to a 4th epoch, which changes nothing in epoch 3).
livecmd train --domain speech --data "$work/merged3" --arch samplecnn --optimizer adamw --lr 0.0001 \
  --epochs 3 --batch-size 32 --seed 8 --shift-ms 1000 --whole-words --cut-words 0.2 --keep-epochs --workers 1 \
  --speed 0.15 --room 0.5 --negatives "$work/negatives/train" --negatives "$work/negatives/train-talk" --negatives-share 0.75 \
  --init "$work/talk-mean.safetensors" --out "$work/room" $(go_on "$work/room")
python -m train.average "$work/room-mean.safetensors" "$work/talk-mean.safetensors" "$work/room/epoch-3.safetensors"

# Commands said alone (--max-utterance-ms 1200, livecmd.stream.utterance): no event inside a run
# of voice longer than 1.2 s. The value is the shortest that costs none of the tuning stream's
# commands at 20 and 30 dB and one of 94 at 40 dB, where its 1-s clips' own noise lengthens
# them (1.0 s cost 1 and 2); see docs/performance.md "Commands said alone". Peak picking
# (--peak-ms 100, livecmd.stream.decide: each event fires the word that peaked highest, one hop
# after its score stops rising): at every threshold and hold of the grid it found 0-2 more of the
# tuning stream's commands with the same false events, for 0.1 s more latency at the median; 100
# is one hop, the shortest wait (docs/performance.md "Peak picking").
python -m train.recipes.ship "$work/room-mean.safetensors" "$data" "$repo/weights/speech-samplecnn.safetensors" \
  --negatives "$work/negatives/train" --hours 1.0 --holds 0,100,200,300 --label-steps 0.6,0.7,0.8,0.9,0.95 --max-utterance-ms 1200 \
  --peak-ms 100
