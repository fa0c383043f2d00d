"""Run by Python at start-up when ``staso-instrument`` put this folder on ``PYTHONPATH``.

Instruments everything from ``STASO_*`` variables, then hands over to any other
``sitecustomize`` the environment had, so ours never hides theirs.
"""

import importlib
import os
import sys


def _instrument() -> None:
    try:
        import staso_integrations

        staso_integrations.instrument_all()
    except Exception as exc:  # the user's program must start even if we cannot
        sys.stderr.write(f"staso-instrument: tracing disabled: {type(exc).__name__}: {exc}\n")


def _chain_to_other_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    saved_path = list(sys.path)
    ours = sys.modules.pop("sitecustomize", None)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        importlib.import_module("sitecustomize")
    except ImportError:
        pass
    finally:
        sys.path[:] = saved_path
        if ours is not None:
            sys.modules["sitecustomize"] = ours


_instrument()
_chain_to_other_sitecustomize()
