"""Packaging: ``pip install .`` installs the checkout as one ``clockwork`` package.

The design card keeps five top-level folders (``datasets``, ``models``, ``search``, ``storage``,
``studies``), and the code imports them by those names. Installed under those bare names they
would shadow other distributions, ``datasets`` above all (Hugging Face's). So the wheel holds them
as ``clockwork.datasets``, ``clockwork.models``, ... and the build rewrites the project's own
absolute imports (``from datasets.clock import ...`` -> ``from clockwork.datasets.clock import ...``);
nothing else changes. The ``clockwork`` console script is ``clockwork.search.cli:main``. From a
checkout, ``python -m search`` keeps working with no install (README). ``pip install -e .`` is not
supported: an editable install cannot rewrite imports; run from the checkout instead.
"""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

NAMESPACE = "clockwork"
FOLDERS = ("datasets", "models", "search", "storage", "studies")
_IMPORT = re.compile(rf"^(\s*)(from|import)\s+({'|'.join(FOLDERS)})(?=[\s.])", re.MULTILINE)

INIT = '''"""Clockwork: hyperparameter search for Keras models on Optuna (installed package).

The project's folders live here as subpackages: clockwork.search (the CLI), clockwork.studies,
clockwork.models, clockwork.datasets, clockwork.storage. Run ``clockwork --help``.
"""
'''
MAIN = "import sys\n\nfrom clockwork.search.cli import main\n\nsys.exit(main())\n"


def rewrite_imports(source: str) -> str:
    """``from search.x import y`` -> ``from clockwork.search.x import y``; ``import storage`` ->
    ``import clockwork.storage as storage`` (so the name the module uses stays bound)."""

    def sub(match: re.Match) -> str:
        indent, word, package = match.groups()
        return f"{indent}{word} {NAMESPACE}.{package}"

    source = re.sub(rf"^(\s*)import ({'|'.join(FOLDERS)})\s*$", rf"\1import {NAMESPACE}.\2 as \2", source, flags=re.MULTILINE)
    return _IMPORT.sub(sub, source)


class BuildPy(build_py):
    """Copies the packages, then rewrites their imports and adds ``clockwork/__init__.py``."""

    def run(self) -> None:
        super().run()
        root = Path(self.build_lib) / NAMESPACE
        root.mkdir(parents=True, exist_ok=True)
        (root / "__init__.py").write_text(INIT)
        (root / "__main__.py").write_text(MAIN)
        for path in root.rglob("*.py"):
            text = path.read_text()
            new = rewrite_imports(text)
            if new != text:
                path.write_text(new)


packages = [NAMESPACE]
package_dir = {NAMESPACE: f"build/{NAMESPACE}-root"}
for folder in FOLDERS:
    for sub in [folder, *(f"{folder}.{p}" for p in find_packages(folder))]:
        packages.append(f"{NAMESPACE}.{sub}")
        package_dir[f"{NAMESPACE}.{sub}"] = sub.replace(".", "/")

Path(package_dir[NAMESPACE]).mkdir(parents=True, exist_ok=True)  # the namespace's own files are generated
setup(packages=packages, package_dir=package_dir, cmdclass={"build_py": BuildPy})
