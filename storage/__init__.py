"""Where studies live: storage URLs, the trial-budget lock, and export files."""

from storage.budget import SURPLUS_ATTR, budget_lock, needs_optimistic_check, over_budget
from storage.urls import ENV_VAR, StorageError, default_url, kind_of, open_storage

__all__ = [
    "ENV_VAR",
    "SURPLUS_ATTR",
    "StorageError",
    "budget_lock",
    "default_url",
    "kind_of",
    "needs_optimistic_check",
    "open_storage",
    "over_budget",
]
