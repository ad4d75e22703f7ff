"""Where studies live: storage URLs, the trial-budget lock, and export files."""

from storage.budget import budget_lock
from storage.urls import ENV_VAR, StorageError, default_url, kind_of, open_storage

__all__ = ["ENV_VAR", "StorageError", "budget_lock", "default_url", "kind_of", "open_storage"]
