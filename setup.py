"""The build: the hot path's modules (clusterdns/compiled.py) compiled with mypyc, about
twice as fast per query as their sources (README "Performance"). CLUSTERDNS_PURE_PYTHON=1
builds without a compiler: the same code, run by the interpreter.

The project's metadata is in pyproject.toml; this file only adds the compiled modules.
"""

import importlib.machinery
import os
import runpy
from pathlib import Path

from setuptools import setup

compiled = runpy.run_path("clusterdns/compiled.py")


def extensions() -> list:
    # An editable install builds beside the sources: what an earlier build compiled (a
    # module since taken off the list among them) would be imported instead of its source.
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for built in Path("clusterdns").rglob(f"*{suffix}"):
            built.unlink()
    if os.environ.get(compiled["PURE_PYTHON"], "") not in ("", "0"):
        return []
    from mypyc.build import mypycify

    sources = [str(compiled["source_of"](module)) for module in compiled["MODULES"]]
    # (the build's environment has mypy but not the project's dependencies: their types are
    # Any to the compiler, as they are to the code that calls into them)
    return mypycify(["--ignore-missing-imports", *sources], group_name="clusterdns_native")


setup(ext_modules=extensions())
