"""The examples' one switch: offline on ``cassettes/examples/<name>.yaml`` unless ``--live``.

    with offline_unless_live("openai_quickstart"):
        ...  # SDK calls are answered from the cassette; nothing leaves the machine

``python examples/<name>.py --live`` (with the provider's key set) calls the real API instead.
Replay is the same code the offline ``staso-integrations demo`` uses (vcrpy, matching method,
path and body, network blocked except loopback).
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from staso_integrations._demo.replay import replay

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "examples"


def offline_unless_live(name: str, key: str = "OPENAI_API_KEY") -> AbstractContextManager[None]:
    if "--live" not in sys.argv[1:]:
        print(
            f"[{name}] offline: replaying cassettes/examples/{name}.yaml (--live with {key} set calls the API)"
        )
        return replay(CASSETTES / f"{name}.yaml")
    if not os.environ.get(key):
        raise SystemExit(f"{name} --live calls the real API: set {key}")
    print(f"[{name}] live")
    return nullcontext()
