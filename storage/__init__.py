"""Where studies live: storage locations, the trial-budget lock, the gRPC proxy and export files.

The ground floor of the service: nothing here imports Keras, matplotlib or ``models``.
"""

from storage.budget import budget_lock, over_budget
from storage.urls import ENV_VAR, Location, StorageError, default_url, open_storage, parse_location

__all__ = [
    "ENV_VAR",
    "Location",
    "StorageError",
    "budget_lock",
    "default_url",
    "open_storage",
    "over_budget",
    "parse_location",
]
