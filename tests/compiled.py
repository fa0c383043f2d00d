"""Whether the build under test compiled a module (``STASO_COMPILE=1``, mypyc): a compiled module
calls its own functions directly, so a test that patches one of them to inject a fault cannot
reach those calls there. Such tests run on the pure-Python build (CI runs both).
"""

from __future__ import annotations

import os
from types import ModuleType

import pytest

# Whether the build under test was asked to be compiled. Read at import: each test's fixture
# clears the STASO_* variables.
ASKED = os.environ.get("STASO_COMPILE") == "1"


def compiled(module: ModuleType) -> bool:
    return not (module.__file__ or "").endswith(".py")


def skip_if_compiled(*modules: ModuleType) -> pytest.MarkDecorator:
    names = ", ".join(module.__name__ for module in modules if compiled(module))
    return pytest.mark.skipif(bool(names), reason=f"compiled ({names}): a patched function is not called")
