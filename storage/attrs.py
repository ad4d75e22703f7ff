"""The names of the user attributes the service stores on studies and trials, in one place.

They are part of the stored format: the dashboard, ``status``, ``export`` and the report read
them from databases written by earlier versions, so a name here never changes.
"""

# Study attributes.
FAMILY = "family"  # the study family a study was created for (a name, or a family file's /path.py:NAME)
FAMILY_SHA256 = "family_sha256"  # a family file's sha256 at creation: workers, train and report refuse a changed file
PRUNER = "pruner"
SAMPLER = "sampler"  # tpe, random, qmc, cmaes, gp
SAMPLER_SEED = "sampler_seed"  # worker i samples with this plus i; None: unseeded
OBJECTIVE = "objective"  # the objective in words, shown by the dashboard
ARTIFACT_DIR = "artifact_dir"  # where trials upload their artifacts
KIND = "kind"  # "permutation" for the permutation experiment's study
PERMUTATIONS = "permutations"
LATEST = "latest"
LOG_DIR = "log_dir"  # where the last launch put its worker logs (on the machine that launched)
PROJECT_VERSION = "project_version"  # the Clockwork that created the study: git commit, or package version
DATA_FINGERPRINT = "data_fingerprint"  # what the study's data was when it was created (task.check_data)
OBJECTIVES = "objectives"  # ["error"] or ["error", "params" | "seconds"]: a multi-objective study's values
SCORING = "scoring"  # how trials are scored: "best-epoch"; a study without it: "last-epoch"

BUDGET = "budget"  # the epochs and time limit a study's trials train for, as the family said at its creation
ALIGN_STAGE = "align_stage"  # which alignment stage a clock study's align builds (models.align.STAGES); absent: 1
READ_TURNS = "read_turns"  # how a clock study reads each photo (models.clock_heads.read_clocks); absent: once
GAP_READ = "gap_read"  # how much a clock study reads the hands' angle (models.clock_heads.HandGap); absent: 0
BEST_EPOCH_SCORING = "best-epoch"  # values of SCORING
LAST_EPOCH_SCORING = "last-epoch"  # studies created before best-epoch scoring keep it when resumed

# Trial attributes.
CONFIG = "config"  # the whole trial config: what `export` writes and `train` consumes
WORKER = "worker"  # host:pid of the worker that ran the trial
LEASE_UNTIL = "lease_until"  # journals: the running trial's worker renews this (epoch seconds) until it ends
GPU = "gpu"
NODE = "node"  # the Ray node id of the worker that ran the trial (launch --cluster)
REFERENCE = "reference"  # the family's reference network (trial 0)
SEED = "seed"  # an enqueued known-good starting point
WARM_START = "warm_start"  # the study or export file an enqueued trial came from
RESTART_OF = "restart_of"  # a seed queued again after it was pruned at chance: the trial it repeats
FAIL_REASON = "fail_reason"
ERROR = "error"  # set when the trial itself raised (the config's fault): what repeated-failure stops count
SURPLUS = "budget_surplus"  # a trial created past the budget behind the gRPC proxy
VERSIONS = "versions"
PARAM_COUNT = "param_count"
EPOCHS = "epochs"
# What ended a trial's training early: "trial_timeout", "deadline" (launch --timeout), or
# "later_trials" (before the deadline, to leave time for the trials the budget still needed).
ENDED_BY = "ended_by"
TRAIN_SECONDS = "train_seconds"
VAL_ERROR = "val_error"  # the trial's validation error as scored (its best epoch's, see SCORING)
VAL_ERROR_LAST = "val_error_last"
BEST_EPOCH = "best_epoch"
RESUMED_FROM_EPOCH = "resumed_from_epoch"  # a stopped trial continued by a queued copy: the epochs it had
LEARNING_RATES = "learning_rates"  # the learning rate of every epoch the trial ran
ALIGN_OPENED = "align_opened"  # clock: the epoch after which the trial's gated alignment stage opened
DATA_SOURCE = "data_source"
