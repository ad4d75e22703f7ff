"""``train``: rebuild an exported config, fit it on train + validation, test it, save it."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from models import ConfigError, as_floats, check_config, check_values

IDENTITY = ("family", "family_sha256", "dataset", "seed")
from search.errors import UserError
from search.tasks import Task, task_of_config
from studies import BUDGET_DEFAULTS, get_family

log = logging.getLogger(__name__)


def check_full_config(config: dict[str, Any]) -> None:
    """Check the whole trial config against the schema (models._config), naming the first bad key,
    before TensorFlow is imported. Budget keys the file lacks take their defaults."""
    for key in ("family", "dataset", "epochs", "val_size"):
        if key not in config:
            raise UserError(f"config key '{key}' is missing")
    family = get_family(config["family"], config.get("family_sha256"))
    for key in sorted(set(BUDGET_DEFAULTS) - set(config)):
        config[key] = BUDGET_DEFAULTS[key]
    try:
        if family.source:  # a family file's own keys are its own: check only Clockwork's
            check_values({k: v for k, v in config.items() if k in BUDGET_DEFAULTS or k in IDENTITY}, strict=True)
        else:
            check_config(config, strict=True)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def run_train(entry: dict[str, Any], out: Path) -> tuple[dict[str, Any], Task]:
    """Train ``entry['config']``; write model.keras, metrics.json and config.json into ``out``.

    Returns the metrics and the config's task (which words them).
    """
    config = as_floats(entry["config"])
    check_full_config(config)
    task = task_of_config(config)
    splits = task.prepare(config)  # after the checks: a bad file fails before TensorFlow loads
    best_epoch = config.get("best_epoch")
    if best_epoch:  # exported from a best-epoch study: train as long as the trial did to its best epoch
        config["epochs"] = int(best_epoch)
    trainer = task.trainer(config, splits)
    expected = entry.get("metrics", {}).get("param_count")
    log.info("model: %d parameters (trial had %s)", trainer.param_count, expected)
    start = time.perf_counter()
    trainer.fit(with_validation=False, replay=config.get("learning_rates"))
    metrics = {
        "study": entry.get("study"),
        "trial": entry.get("trial"),
        "param_count": trainer.param_count,
        "trial_param_count": expected,
        "epochs": trainer.record.epochs,
        "train_seconds": round(time.perf_counter() - start, 3),
        "train_images": int(len(splits.x_train) + len(splits.x_val)),
        **trainer.evaluate_test(),
        "trial_test": {k: v for k, v in entry.get("metrics", {}).items() if k.startswith("test_")},
        "data_source": splits.source,
    }
    out.mkdir(parents=True, exist_ok=True)
    trainer.model.save(out / "model.keras")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics, task
