"""Study families: one module per family, each a search space, a dataset and an objective.

``FAMILIES`` maps a family name (``fashion-mlp``) to its :class:`StudyFamily`.
"""

from studies._classic import classic_families
from studies.clock import CLOCK
from studies._family import BUDGET_DEFAULTS, StudyFamily
from studies.files import FamilyFileError, is_family_file, load_family_file
from studies.smoke import SMOKE

FAMILIES: dict[str, StudyFamily] = {f.name: f for f in [*classic_families(), CLOCK, SMOKE]}
# The assignment's task one: MLPs and CNNs on MNIST and Fashion-MNIST (task two permutes them).
TASK_ONE: tuple[str, ...] = ("fashion-mlp", "fashion-cnn", "mnist-mlp", "mnist-cnn")


class UnknownStudy(KeyError):
    def __str__(self) -> str:
        return f"unknown study family {self.args[0]!r}; known: {', '.join(FAMILIES)}, or a family file FILE.py[:NAME]"


def get_family(name: str, sha256: str | None = None) -> StudyFamily:
    """A built-in family by name, or a family file ``FILE.py[:NAME]`` (refused when ``sha256`` is
    given and the file's differs: see studies.files)."""
    if is_family_file(name):
        return load_family_file(name, sha256)
    try:
        return FAMILIES[name]
    except KeyError:
        raise UnknownStudy(name) from None


__all__ = [
    "BUDGET_DEFAULTS", "FAMILIES", "TASK_ONE", "FamilyFileError", "StudyFamily", "UnknownStudy", "get_family",
]
