"""The compiled core, opt-in: ``STASO_COMPILE=1 pip install ...`` builds the modules every traced
call runs (``[tool.staso] compiled`` in pyproject.toml) with mypyc; without it the package is
pure Python. Everything else is in pyproject.toml.
"""

import os
import sys
import tomllib

from setuptools import setup

# setup.py also runs to read the build's requirements and metadata: mypyc runs only to build
_BUILDS = {"bdist_wheel", "build", "build_ext", "editable_wheel", "develop", "install"}


def compiled_core() -> list:
    if os.environ.get("STASO_COMPILE") != "1" or not _BUILDS.intersection(sys.argv):
        return []
    from mypyc.build import mypycify

    with open("pyproject.toml", "rb") as file:
        modules = tomllib.load(file)["tool"]["staso"]["compiled"]
    # Not the gate's strict settings: the SDKs the integrations name are not in the build's
    # environment, so their types are Any here; the gate (mypy) checks the package in full.
    options = ["--config-file=", "--ignore-missing-imports"]
    paths = [*options, *(f"staso_integrations/{module}" for module in modules)]
    return mypycify(paths, opt_level="3", group_name="staso_integrations")


setup(ext_modules=compiled_core())
