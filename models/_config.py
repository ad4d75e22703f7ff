"""The schema of a trial configuration: every key, its type, what the code accepts, what it means.

A configuration is a plain JSON dict (see GUIDE.md). Builders trust it, so everything that
reaches a builder from outside (``--set``, ``train``'s config and export files, warm starts) is
checked here first, before anything is written or a worker starts; a message names the key, the
value and what is allowed. :data:`KEYS` is the one table: the CLI's ``studies FAMILY`` prints it,
the checks are derived from it. What a key *accepts* can be wider than what a study *searches*
(``--set filters=24`` is fine though the space offers 16, 32, 64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_normal")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu", "gelu", "swish", "tanh")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop", "nadam")
REGULARIZERS = ("none", "l1", "l2", "l1_l2")
# Learning rate over a trial's epochs (search.training applies them); absent means constant.
LR_SCHEDULES = ("constant", "cosine", "plateau")

# Clock vocabulary (the builders are in models.clock and models.clock_heads).
HEADS = ("regression", "classification", "multi", "periodic")
READ_TURNS = (1, 2, 4, 8, 16)  # how many evenly turned views of a clock photo may be read (models.clock_heads)
CLASS_COUNTS = (12, 24, 48, 72, 144, 360, 720)
REGRESSION_LOSSES = ("mse", "circular")
MINUTE_HEADS = ("regression", "classification", "sincos")
# The searched augmentation presets; a config may also name transforms joined by "+" (rotate+noise).
AUGMENTATIONS = ("none", "light", "strong")
AUGMENT_TRANSFORMS = ("rotate", "turn", "shift", "scale", "perspective", "brightness", "contrast", "noise")
# The clock backbone's alignment stage (models.align); absent means none, as in older configs.
ALIGNMENTS = ("none", "affine", "perspective")
ALIGN_STAGES = (1, 2)  # models.align.STAGES
DATASETS = ("mnist", "fashion", "clock", "none", "custom")  # custom: a family file's own loader
MODELS = ("mlp", "cnn", "clock")
# Fewer validation images than this judge nothing: one image is 1% of the error.
MIN_VALIDATION = 100

# Keys each head type adds (their specs are in KEYS).
HEAD_KEYS: dict[str, tuple[str, ...]] = {
    "regression": ("regression_loss",),
    "classification": ("classes",),
    "multi": ("minute_head",),
    "periodic": ("pairs",),
}
# Keys each optimizer choice adds on top of the common ones.
OPTIMIZER_KEYS: dict[str, tuple[str, ...]] = {
    "sgd": (),
    "momentum": ("momentum", "nesterov"),
    "adam": ("beta_1",),
    "adamw": ("beta_1", "weight_decay"),
    "rmsprop": ("rho",),
    "nadam": ("beta_1",),
}
_COMMON = ("model", "initializer", "activation", "optimizer", "learning_rate", "regularizer", "dropout", "batch_norm", "batch_size")
_BY_MODEL: dict[str, tuple[str, ...]] = {
    "mlp": ("hidden_units",),
    "cnn": ("stem_filters", "stem_kernel", "blocks", "block_filters", "convs_per_block", "kernel_size", "dense_units"),
    "clock": ("head", "input_size", "augment", "conv_blocks", "filters", "kernel_size", "first_stride", "pooling", "global_pool", "dense_units"),
}


class ConfigError(ValueError):
    """A configuration that no model can be built from; the message names the key."""

    def __init__(self, message: str, key: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.detail = detail  # what is allowed (and why), without the key and value


@dataclass(frozen=True)
class Key:
    """One configuration key: ``kind`` is int, float, bool, choice, text, ints (a list of whole
    numbers), floats (a list of numbers), size (a count, or a fraction below 1) or augment (a
    preset, or transforms joined by ``+``).

    ``low``/``high`` bound numbers (and list items) inclusively, ``above`` exclusively; ``null``:
    ``None`` is accepted (meaning the default). ``models``: the model types this spec is for
    (empty: any), where one name means different things (``dense_units``).
    """

    name: str
    kind: str
    doc: str
    group: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    above: float | None = None
    null: bool = False
    models: tuple[str, ...] = ()
    why: str = ""  # said after a rejected value: why the bound is there

    def allowed(self) -> str:
        """What the key accepts, in words."""
        if self.kind == "choice":
            text = "one of " + ", ".join(_json(c) for c in self.choices)
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "text":
            text = "text"
        elif self.kind == "size":
            text = f"a count of at least {MIN_VALIDATION}, or a fraction between 0 and 1"
        elif self.kind == "augment":
            text = f"one of {', '.join(_json(c) for c in AUGMENTATIONS)}, or transforms joined by + from {', '.join(AUGMENT_TRANSFORMS)}"
        else:
            noun = {"int": "a whole number", "float": "a number", "ints": "a list of whole numbers", "floats": "a list of numbers"}[self.kind]
            text = noun + self._bounds()
        return text + (", or null" if self.null else "")

    def _bounds(self) -> str:
        parts = []
        if self.above is not None:
            parts.append(f"above {_num(self.above)}")
        if self.low is not None and self.high is not None:
            return f" from {_num(self.low)} to {_num(self.high)}" if not parts else f" {parts[0]}, at most {_num(self.high)}"
        if self.low is not None:
            parts.append(f"at least {_num(self.low)}")
        if self.high is not None:
            parts.append(f"at most {_num(self.high)}")
        return (", " if self.kind in ("ints", "floats") else " ") + " and ".join(parts) if parts else ""

    def check(self, value: Any) -> None:
        """Raise :class:`ConfigError` naming the key, ``value`` and what is allowed."""
        if not self._accepts(value):
            detail = f"expected {self.allowed()}" + (f" ({self.why})" if self.why else "")
            raise ConfigError(f"config key '{self.name}' = {_json(value)}: {detail}", self.name, detail)

    def _accepts(self, value: Any) -> bool:
        if value is None:
            return self.null
        kind = self.kind
        if kind == "choice":
            return any(value == c and type(value) is type(c) for c in self.choices)
        if kind == "bool":
            return isinstance(value, bool)
        if kind == "text":
            return isinstance(value, str) and value != ""
        if kind == "augment":
            return value in AUGMENTATIONS or (
                isinstance(value, str) and all(part in AUGMENT_TRANSFORMS for part in value.split("+"))
            )
        if kind == "size":
            if _is_int(value):
                return value >= MIN_VALIDATION
            return _is_number(value) and 0 < value < 1
        if kind in ("ints", "floats"):
            item = _is_int if kind == "ints" else _is_number
            return isinstance(value, list) and all(item(v) and self._in_range(v) for v in value)
        if kind == "int":
            return _is_int(value) and self._in_range(value)
        return _is_number(value) and self._in_range(value)

    def _in_range(self, value: float) -> bool:
        return (
            (self.low is None or value >= self.low)
            and (self.high is None or value <= self.high)
            and (self.above is None or value > self.above)
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")


def _num(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:g}"


def _json(value: Any) -> str:
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _keys() -> list[Key]:
    identity, budget, training = "identity", "budget", "training"
    mlp, cnn, clock, search = "mlp", "cnn", "clock", "search parameter"
    keys = [
        Key("family", "text", "the study family the config belongs to (a name, or a family file FILE.py:NAME)", identity),
        Key("family_sha256", "text", "a family file's sha256 when the study was created: train refuses a changed file", identity),
        Key("dataset", "choice", "the data it trains on", identity, choices=DATASETS),
        Key("model", "choice", "the network type", identity, choices=MODELS),
        Key("seed", "int", "seed of the weights and the data order (a trial's number by default)", identity, low=0),
        Key("permute_seed", "int", "seed of a fixed pixel permutation of every image (task two), null: none", identity, low=0, null=True),
        Key("epochs", "int", "training epochs per trial (the pruner's rungs)", budget, low=1, high=100_000),
        Key("train_limit", "int", "train on at most this many images, null: all", budget, low=1, null=True),
        Key("val_size", "size", "validation images carved from the training set (a count, or a fraction below 1)", budget,
            why=f"a validation set under {MIN_VALIDATION} images judges nothing"),
        Key("data_dir", "text", "where the data is, null: the family's default", budget, null=True),
        Key("trial_timeout", "float", "seconds: a trial still training then ends after its epoch, scored by its best", budget, above=0, null=True),
        Key("read_turns", "choice", "clock: read each photo at this many even turns (1, 2, 4, 8 or 16) and average what the head says; "
            "an epoch's check reads at most 4; absent: 1", budget, choices=READ_TURNS, models=(clock,)),
        Key("align_stage", "choice", "clock: which alignment stage align builds: 1 the first (open from the start, its "
            "localisation net at the reader's speed), 2 gated until the reader leaves chance, ten times slower; absent: 1",
            budget, choices=ALIGN_STAGES, models=(clock,)),
        Key("gap_read", "float", "clock: how much the hands' angle (gap_weight above 0) is read: the hour hand the minute hand "
            "and the angle imply, added to the head's own at this weight (heads reading two hands); absent or 0: learned from only",
            budget, low=0, high=100, models=(clock,)),
        Key("align_opened", "int", "recorded: the epoch after which a clock trial's gated alignment stage opened; train opens it there",
            budget, low=1, null=True),
        Key("best_epoch", "int", "recorded: the epoch a best-epoch study scored; train retrains for that many", budget, low=1, null=True),
        Key("learning_rates", "floats", "recorded: the learning rate of every epoch, which train replays", budget, low=0, null=True),
        Key("sleep", "float", "smoke family: seconds each trial sleeps", budget, low=0, high=86_400),
        Key("x", "float", "smoke family: the point evaluated, (x - 2)^2", "smoke"),
        Key("initializer", "choice", "weight initializer", training, choices=INITIALIZERS),
        Key("activation", "choice", "hidden activation", training, choices=ACTIVATIONS),
        Key("optimizer", "choice", "optimizer", training, choices=OPTIMIZERS),
        Key("learning_rate", "float", "initial learning rate", training, above=0),
        Key("lr_schedule", "choice", "learning rate over the epochs (absent: constant)", training, choices=LR_SCHEDULES),
        Key("warmup_epochs", "int", "epochs of linear warm-up before the schedule (any schedule)", training, low=0, high=1000),
        Key("ema_momentum", "float", "keep a moving average of the weights, updated every step with this momentum (0.999: about "
            "the last 1,000 steps); each epoch's check reads it beside the weights and keeps the better; a retrained model ends with it; absent or 0: none",
            training, low=0, high=0.99999),
        Key("momentum", "float", "SGD momentum", training, low=0, high=1),
        Key("nesterov", "bool", "Nesterov momentum", training),
        Key("beta_1", "float", "Adam-family first-moment decay", training, low=0, high=0.999999),
        Key("weight_decay", "float", "AdamW decoupled weight decay", training, low=0, high=1),
        Key("rho", "float", "RMSprop decay", training, low=0, high=0.999999),
        Key("regularizer", "choice", "weight penalty", training, choices=REGULARIZERS),
        Key("reg_strength", "float", "weight penalty factor", training, low=0, high=10),
        Key("dropout", "float", "dropout rate of the dense layers", training, low=0, high=0.99),
        Key("batch_norm", "bool", "batch normalisation after each layer", training),
        Key("batch_size", "int", "photos or images per gradient step", training, low=1, high=65_536),
        Key("hidden_units", "ints", "units of each hidden layer", mlp, low=1, high=100_000, models=(mlp,)),
        Key("stem_filters", "int", "filters of the first convolution", cnn, low=1, high=4096, models=(cnn,)),
        Key("stem_kernel", "int", "kernel of the first convolution", cnn, low=1, high=28, models=(cnn,)),
        Key("blocks", "int", "convolution blocks after the stem, each ending in a 2 x 2 pooling", cnn, low=1, high=3, models=(cnn,),
            why="28 px halve after the stem and after every block: three blocks leave 1 x 1"),
        Key("block_filters", "int", "filters of the first block (doubling per block)", cnn, low=1, high=4096, models=(cnn,)),
        Key("convs_per_block", "int", "convolutions per block", cnn, low=1, high=8, models=(cnn,)),
        Key("kernel_size", "int", "kernel of the block convolutions", cnn, low=1, high=28, models=(cnn,)),
        Key("dense_units", "ints", "units of each dense layer before the output", cnn, low=1, high=100_000, models=(cnn,)),
        Key("head", "choice", "how the time is read out", clock, choices=HEADS, models=(clock,)),
        Key("regression_loss", "choice", "regression head: its loss", clock, choices=REGRESSION_LOSSES, models=(clock,)),
        Key("classes", "choice", "classification head: time classes over 12 hours", clock, choices=CLASS_COUNTS, models=(clock,)),
        Key("minute_head", "choice", "multi head: the minute output beside the 12 hour classes", clock, choices=MINUTE_HEADS, models=(clock,)),
        Key("pairs", "choice", "periodic head: sin/cos pairs (1: the time, 2: hour and minute hand)", clock, choices=(1, 2), models=(clock,)),
        Key("hour_weight", "float", "multi head and periodic head with 2 pairs: weight of the hour loss beside the minute's (absent: 1; other heads ignore it)", clock,
            above=0, high=100, models=(clock,)),
        Key("gap_weight", "float", "weight of a learned-from output, the angle between the hands (absent or 0: none)", clock,
            low=0, high=100, models=(clock,)),
        Key("input_size", "int", "side in pixels the photos are resized to", clock, low=8, high=512, models=(clock,),
            why="the clock model needs at least 8 px"),
        Key("augment", "augment", "label-preserving changes of the training photos, in the input pipeline", clock,
            models=(clock,)),
        Key("align", "choice", "alignment stage before the backbone: a spatial transformer (absent: none)", clock,
            choices=ALIGNMENTS, models=(clock,)),
        Key("conv_blocks", "int", "convolution blocks of the backbone", clock, low=1, high=12, models=(clock,)),
        Key("filters", "int", "filters of the first block (doubling per block, at most 256)", clock, low=1, high=1024, models=(clock,)),
        Key("kernel_size", "int", "kernel of every convolution", clock, low=1, high=15, models=(clock,)),
        Key("first_stride", "int", "stride of the first convolution", clock, low=1, high=4, models=(clock,)),
        Key("pooling", "choice", "pooling after each block", clock, choices=("max", "avg"), models=(clock,)),
        Key("global_pool", "bool", "global average pooling (false: flatten)", clock, models=(clock,)),
        Key("dense_units", "int", "units of the dense layer before the head (0: none)", clock, low=0, high=100_000, models=(clock,)),
        # Search parameters that derive a config key: pinnable, never stored in a config.
        Key("n_layers", "int", "MLP: hidden layers (derives hidden_units)", search, low=1, high=16),
        Key("n_dense", "int", "CNN: dense layers (derives dense_units)", search, low=0, high=8),
    ]
    keys += [Key(f"units_{i}", "int", f"MLP: units of hidden layer {i}", search, low=1, high=100_000) for i in range(16)]
    keys += [Key(f"dense_{i}", "int", f"CNN: units of dense layer {i}", search, low=1, high=100_000) for i in range(8)]
    return keys


KEYS: tuple[Key, ...] = tuple(_keys())
SEARCH_PARAMETER = "search parameter"


def key_spec(name: str, model: str | None = None) -> Key | None:
    """The spec of ``name`` for a config of ``model`` (``None``: the first spec of that name)."""
    specs = [k for k in KEYS if k.name == name]
    for spec in specs:
        if model is None or not spec.models or model in spec.models:
            return spec
    return specs[0] if specs and model not in MODELS else None


def as_floats(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with whole numbers of number keys as floats (``learning_rate=10`` from JSON is an
    int, which Keras' optimizers refuse); a copy, other values untouched."""
    out = dict(config)
    for name, value in config.items():
        spec = key_spec(name)
        if spec is not None and spec.kind == "float" and _is_int(value):
            out[name] = float(value)
    return out


def required_keys(config: dict[str, Any]) -> tuple[str, ...]:
    """The keys a model can only be built with, for this config's model, optimizer, head, regularizer."""
    model = config.get("model")
    keys = list(_COMMON) + list(_BY_MODEL.get(model, ())) + list(OPTIMIZER_KEYS.get(config.get("optimizer"), ()))
    if model == "clock":
        keys += HEAD_KEYS.get(config.get("head"), ())
    if config.get("regularizer", "none") != "none":
        keys.append("reg_strength")
    return tuple(keys)


def check_values(config: dict[str, Any], *, strict: bool = False, model: str | None = None) -> None:
    """Check every key ``config`` holds against its spec; ``strict``: an unknown key is an error.

    ``model`` says which model's meaning of a shared name applies (default: ``config['model']``).
    """
    model = model or config.get("model")
    for name, value in config.items():
        spec = key_spec(name, model)
        if spec is None:
            if strict:
                raise ConfigError(f"config key '{name}' is not a key Clockwork knows (see: python -m search studies FAMILY)", name)
            continue
        spec.check(value)


def check_config(config: Any, *, strict: bool = False) -> dict[str, Any]:
    """Return ``config`` if a model can be built from it, else raise :class:`ConfigError`.

    Every key it holds is checked against :data:`KEYS`; the keys its model type needs must be there.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"a config must be a JSON object, not {type(config).__name__}")
    if "model" in config:
        key_spec("model").check(config["model"])
    for key in required_keys(config):
        if key not in config:
            raise ConfigError(f"config key '{key}' is missing", key)
    check_values(config, strict=strict)
    return config


def describe(
    names: list[str], model: str | None, defaults: dict[str, Any], searched: dict[str, str], own: tuple[str, ...] = ()
) -> list[str]:
    """Lines of a table: key, what it accepts, what the study searches, its default, its meaning.

    ``own``: keys a family file defines, which the schema does not know (they accept what its space gives).
    """
    rows = [("key", "accepts", "searched", "default", "meaning")]
    for name in names:
        spec = None if name in own else key_spec(name, model)
        if spec is None and name not in own:
            continue
        default = _json(defaults[name]) if name in defaults else "-"
        if spec is None:
            rows.append((name, "what its space gives", searched.get(name, "-"), default, "the family file's own key"))
        else:
            rows.append((name, spec.allowed(), searched.get(name, "-"), default, spec.doc))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]

