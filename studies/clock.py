"""Tell the time: a CNN reads an analog clock photo; the objective is the common-sense error.

The head type is a categorical dimension with its own conditional parameters (classes for
classification, the minute output of the multi-head, one or two sin/cos pairs); the backbone,
its alignment stage (a spatial transformer), input size and augmentation are searched with the
same initializer / activation / optimizer / regularizer dimensions as the MNIST studies.
"""

from __future__ import annotations

from typing import Any

from models._config import CLASS_COUNTS, HEADS, MINUTE_HEADS, REGRESSION_LOSSES
from studies._classic import _training
from studies._family import StudyFamily

# The clock space's priors follow the measured runs (BENCHMARKS.md: "A demo that learns",
# "Augmentation and alignment on the demo recipe", "Clock levers on a GPU", "Which clock runs leave
# chance", and the issue-4 searches, whose trained trials issue 12 summarises as "the Adam family
# at 3e-4..7e-3, no L1"). A key accepts more than is searched (models/_config.py), so --set
# reaches the rest:
# - input size: 40-75 px. 40 px learned most per CPU-second (12 s an epoch with 16 filters against
#   82 s for a 32-filter backbone at 64 px); 64 and 75 px were the GPU runs' sizes; an epoch at 150
#   or 100 px costs about 5.5x or 2.4x one at 64 px, and no run measured them better. The seed's
#   48 px: over a 25-minute trial, 1.2x the cost an epoch, 2.2 min less test error than 40 px
#   (one paired run, one training seed).
# - filters: 16-64, with 24 (16 epochs at 40 px with a warm-up epoch: 24 filters ended at 36-47
#   min validation error in 9 of 10 runs, 16 filters at 44-53 in 9 of 10; 1.9x the time an epoch).
# - optimizer: the Adam family at 3e-4..4e-3 (Adam at 1e-3 and 3e-3 learned in every run; at 5e-3
#   and 6e-3 it stayed at chance in all three runs).
# - a linear warm-up of 1-2 epochs, whatever the schedule: of 20 runs of the demo recipe with one
#   warm-up epoch, 19 left chance within 16 epochs; of 30 without it (one change each), 12 never did.
# - batch normalisation always: both runs without it stayed at chance for all 16 epochs.
# - kernel 3: both runs with 5 x 5 kernels stayed at chance (5 stays accepted, not searched).
# - dropout 0-0.3: without dropout, 5 of 9 paired runs ended lower and 3 higher (weak evidence).
# - regularizer: none or L2 (the issue-4 summary: no L1).
# - batch size: 16-64 (16 beat 32, and 32 beat 64, at the same CPU time; 128 and 256 unmeasured).
# - augmentation: none or light; every transform that moves or turns the whole photo kept the
#   reader at chance within the measured budgets (strong stays accepted, not searched).
# - alignment stage: none or affine. Perspective never left chance in a measured run (8 epochs at
#   the full rate; 4 sampled trials of the 30-minute search, 7-9 epochs each, at a tenth of it);
#   affine at a tenth of the rate was a draw with none (perspective stays accepted, not searched).
# - heads, backbone depth and pooling: all kept, as the assignment compares them.
# - the hands' angle to each other as a second thing to learn (gap_weight 0 or 1): at a slow
#   evening's budget (100 s of one core, 7 epochs) the demo recipe with it left chance 1-3 epochs
#   sooner and read lower on 3 of 3 training seeds, and on 2 of 2 over a quick day's 290 s (20.1
#   and 23.0 min against 27.7 and 40.9); at weight 3 it read worse than at 1 on both seeds
#   measured (BENCHMARKS.md, "The hands' angle to each other").
INPUT_SIZES = (40, 48, 64, 75)
CLOCK_FILTERS = (16, 24, 32, 64)
CLOCK_OPTIMIZERS = ("adam", "adamw", "nadam")
CLOCK_LEARNING_RATES = (3e-4, 4e-3)
CLOCK_REGULARIZERS = ("none", "l2")
CLOCK_AUGMENTATIONS = ("none", "light")
CLOCK_ALIGNMENTS = ("none", "affine")
# A moving average of the weights (Keras' use_ema), judged beside the weights the last step left,
# the better kept: none, or about the last 1,000 steps (1.2 epochs of 16-photo batches). On the
# seed it read 1.2-2.7 min better between epochs 11 and 50, a draw once the decay had annealed,
# and worse before epoch 10 (BENCHMARKS.md, "A moving average of the weights on the 2-hour seed").
CLOCK_EMA_MOMENTA = (0.0, 0.999)
CLOCK_GAP_WEIGHTS = (0.0, 1.0)


def head_space(trial: Any) -> dict[str, Any]:
    head = trial.suggest_categorical("head", HEADS)
    config: dict[str, Any] = {"head": head}
    if head == "regression":
        config["regression_loss"] = trial.suggest_categorical("regression_loss", REGRESSION_LOSSES)
    elif head == "classification":
        config["classes"] = trial.suggest_categorical("classes", CLASS_COUNTS)
    elif head == "multi":
        config["minute_head"] = trial.suggest_categorical("minute_head", MINUTE_HEADS)
    else:
        config["pairs"] = trial.suggest_int("pairs", 1, 2)
    config["gap_weight"] = trial.suggest_categorical("gap_weight", CLOCK_GAP_WEIGHTS)
    return config


def clock_space(trial: Any) -> dict[str, Any]:
    return {
        "model": "clock",
        **head_space(trial),
        "input_size": trial.suggest_categorical("input_size", INPUT_SIZES),
        "augment": trial.suggest_categorical("augment", CLOCK_AUGMENTATIONS),
        "align": trial.suggest_categorical("align", CLOCK_ALIGNMENTS),
        "conv_blocks": trial.suggest_int("conv_blocks", 3, 6),
        "filters": trial.suggest_categorical("filters", CLOCK_FILTERS),
        "kernel_size": 3,
        "first_stride": trial.suggest_int("first_stride", 1, 2),
        "pooling": trial.suggest_categorical("pooling", ("max", "avg")),
        "global_pool": trial.suggest_categorical("global_pool", (True, False)),
        "dense_units": trial.suggest_categorical("dense_units", (0, 64, 128, 256)),
        **clock_training(trial),
    }


def clock_training(trial: Any) -> dict[str, Any]:
    """The training dimensions of the clock space, on the priors above."""
    return {
        **_training(
            trial, CLOCK_OPTIMIZERS, CLOCK_LEARNING_RATES, CLOCK_REGULARIZERS, (16, 32, 64),
            warmup=(1, 2), warm_every_schedule=True, dropout=(0.0, 0.3), batch_norm=(True,),
        ),
        "ema_momentum": trial.suggest_categorical("ema_momentum", CLOCK_EMA_MOMENTA),
    }


# The reference: the published best head on the real photos (GUIDE.md: hour classification +
# minute sin/cos) on the recipe the measured runs found best for a CPU: a 40 px backbone of 24
# filters, batches of 16, light augmentation, no dropout, a cosine decay after one warm-up epoch,
# at the published Adam 1e-3: at the seed's 3e-3 this head sat at chance for a whole 25-minute
# trial with training seed 0 and for 9 epochs with seed 2; at 1e-3 those seeds left chance at
# epochs 7 and 6 (BENCHMARKS.md, "Readers and recipes at 14 epochs on one core").
CLOCK_REFERENCE: dict[str, Any] = {
    "model": "clock",
    "head": "multi",
    "minute_head": "sincos",
    "input_size": 40,
    "augment": "light",
    "align": "none",
    "conv_blocks": 4,
    "filters": 24,
    "kernel_size": 3,
    "first_stride": 1,
    "pooling": "max",
    "global_pool": False,
    "dense_units": 128,
    "initializer": "he_normal",
    "activation": "relu",
    "optimizer": "adam",
    "learning_rate": 0.001,
    "lr_schedule": "cosine",
    "warmup_epochs": 1,  # the space's prior: every measured run without a warm-up risked staying at chance
    "beta_1": 0.9,
    "regularizer": "none",
    "dropout": 0.0,
    "batch_norm": True,
    "batch_size": 16,
    "ema_momentum": 0.0,
    "gap_weight": 0.0,  # the published reader learns from the time alone
}
CLOCK_REFERENCE_PARAMS: dict[str, Any] = {k: v for k, v in CLOCK_REFERENCE.items() if k != "model"}

# A second starting point: the same recipe read by two sin/cos pairs (hour and minute hand) at
# Adam 3e-3, the head and rate that did best on the GPU loans of issue 4; the recipe's other
# choices are the best of the 53 runs of the demo recipe on issue 12's loan (BENCHMARKS.md,
# "Which clock runs leave chance"), except the input size: over a whole 25-minute trial on one
# of two busy cores (one training seed), 48 px read 12.3 min test mean (37 epochs of 41 s) where
# 40 px read 14.5 (45 epochs of 34 s), ahead at equal time from its epoch 15 on (BENCHMARKS.md,
# "The hour hand").
CLOCK_TWO_HANDS_PARAMS: dict[str, Any] = {
    **{k: v for k, v in CLOCK_REFERENCE_PARAMS.items() if k != "minute_head"},
    "head": "periodic",
    "pairs": 2,
    "learning_rate": 0.003,
    "input_size": 48,
    "ema_momentum": 0.999,
    # The affine alignment stage (stage 2): over a 25-minute trial on one core this recipe read
    # 4.7 min test mean with it and 7.8 without, 2.5% of the photos an hour off against 5.6%
    # (training seed 1; BENCHMARKS.md, "The alignment stage on the seed for 25 minutes").
    "align": "affine",
    # Learning from the hands' angle to each other too: over 15 minutes of one core (24 epochs)
    # this recipe read 8.7 and 8.7 min test mean with it and 13.5 and 10.7 without, 6.0-6.4% of the
    # photos an hour off against 8.6-12.1%, and left chance at epoch 2 instead of 4 (training seeds
    # 1 and 2; BENCHMARKS.md, "The hands' angle to each other").
    "gap_weight": 1.0,
}

CLOCK = StudyFamily(
    name="clock",
    summary="tell the time from clock photos: head type, backbone, alignment, input size, augmentation, optimizer",
    dataset="clock",
    space=clock_space,
    reference=CLOCK_REFERENCE,
    reference_params=CLOCK_REFERENCE_PARAMS,
    # read_turns 8: each photo is also read at the seven other eighth turns (the same time) and the
    # readings averaged; four quarter turns took the demo recipe's test error from 51.0 to 42.1 min
    # (BENCHMARKS.md, "Reading a photo four ways"), and eighths took the 2-hour seed's validation
    # error at epoch 44 from 10.22 to 9.22 on the same weights, where sixteenths read 9.80
    # (BENCHMARKS.md, "Reading a photo at eighth turns"). An epoch's check still reads four ways
    # (models.clock_heads.WATCH_TURNS); the eight-way reading is the kept weights', once.
    # 250 epochs a trial and no time limit of its own: the seed kept improving with time, 27.0 min
    # test at 20 epochs, 18.6 at 30 and 12.9 at the 53 epochs that fit in 25 minutes of one of two
    # busy cores on a quick day, all at 40 px (BENCHMARKS.md, "The seed for 25 minutes"); at 48 px,
    # 12.3 at 37 epochs, 9.4-10.4 at the 48-49 of a 30-minute search, 8.37 at a cap of 60 and 5.85
    # at a cap of 150 in a 2-hour search, where 150 ended the seed after 104 of its 120 minutes,
    # and would after about 94 (38 s an epoch) once tf.data's autotuning no longer stalled each
    # epoch (4384b35), its decay spent before the deadline. With 250 the seed trains to a 2-hour
    # search's deadline, its cosine decay spanning the 189 epochs that fit: 5.09 (BENCHMARKS.md,
    # "Clock search with the family's defaults, 2 hours, 250 epochs a trial"); the reference's 250
    # epochs of 26 s end 10 minutes before it, leaving its worker to sampled trials. Without a deadline a trial of 250 epochs takes about 2.5 hours of one core;
    # `--set epochs=N` or `--trial-timeout` bounds it. A search's deadline (`launch --timeout`)
    # ends a trial before an epoch that would cross it, its cosine decay spanning the epochs that
    # fit, so in a 30-minute search on 2 cores the seed trains until the deadline.
    # align_stage 2: the alignment stage (when a trial's align is not none) is gated until the reader
    # leaves chance and its localisation net moves ten times slower than the reader; the first stage
    # applied one transform to every photo, this one straightens the oblique dials (BENCHMARKS.md,
    # "The alignment stage learns to straighten the dial"). A study made before keeps stage 1.
    # gap_read 1: where a trial learns from the hands' angle (gap_weight above 0) it also reads it,
    # the hour hand that the minute hand and the angle imply voting beside the head's own: the 2-hour
    # seed read 2.82 min test mean with it and 3.40 without on the same weights, 1.1% of the photos an
    # hour off against 2.1%; the demo recipe at 7 epochs 64.4 and 75.8 against 66.3 and 78.3 (training
    # seeds 1 and 2). Of 0.5, 1 and 2, 1 read best on the validation photos twice and 0.2 min behind 2
    # the third time (BENCHMARKS.md, "Reading the hands' angle too"). A study made before keeps 0.
    budget={"epochs": 250, "val_size": 0.1, "read_turns": 8, "align_stage": 2, "gap_read": 1.0},
    pruner="hyperband",
    seeds=(CLOCK_TWO_HANDS_PARAMS,),
    # Runs sit at chance for their first epochs, and how many depends on the training seed: of 18
    # warmed-up runs of the demo recipe that ended below 50 min, 17 were still at chance at epoch
    # 3, 4 at epoch 5 and none at epoch 8 (BENCHMARKS.md, "Which clock runs leave chance"), so no
    # pruner judges a clock trial before epoch 8.
    min_epochs=8,
    # A trial whose best epoch still reads at chance (mean error 180 min; 162 is 90% of it) after
    # 12 epochs is pruned even with no peer at its epoch: the latest measured run that went on to
    # read clocks left chance at epoch 10 (the multi head, training seed 2, on one core), and in a
    # 30-minute search the reference sat at chance for all 52 epochs of its 25 minutes, unpruned
    # (BENCHMARKS.md, "Readers and recipes at 14 epochs" and the 30-minute search at cbc1060).
    at_chance=(12, 162.0),
    task="clock",
    objective="mean validation common-sense error (minutes)",
    # A draw with 1 at 3 over 14 epochs (BENCHMARKS.md, "The hour hand"): pinnable, not searched.
    accepted=("hour_weight",),
)
