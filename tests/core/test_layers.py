"""``_core`` imports nothing of the package outside itself: no import circles back into it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import staso_integrations
from staso_integrations._core import parts, runtime

PACKAGE = Path(staso_integrations.__file__).parent
OUTSIDE = ("guard", "pricing", "exporters", "integrations")


def _imported_modules(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports, at the top or inside a function."""
    package = "staso_integrations._core"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, (base, node.module)))
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]  # from .. import guard
    return found


def test_no_core_module_imports_guard_pricing_exporters_or_integrations() -> None:
    modules = sorted((PACKAGE / "_core").glob("*.py"))
    assert len(modules) > 10
    forbidden = tuple(f"staso_integrations.{name}" for name in OUTSIDE)
    offenders = {
        f"{path.name}: {module}"
        for path in modules
        for module in _imported_modules(path)
        if module.startswith(forbidden)
    }
    assert offenders == set()


def test_the_scan_sees_relative_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from ..guard._engine import judge\n    from .. import pricing\n")
    assert {"staso_integrations.guard._engine", "staso_integrations.pricing"} <= set(
        _imported_modules(sample)
    )


def test_the_package_plugs_pricing_exporters_and_registry_in_and_the_guard_its_own() -> None:
    from staso_integrations import exporters, pricing
    from staso_integrations.guard import _engine
    from staso_integrations.integrations import _registry

    assert parts.PARTS.price is pricing.price_span
    assert parts.PARTS.build_exporters is exporters.build_exporters
    assert parts.PARTS.integrations() == _registry.names()
    assert parts.PARTS.judge_proposed is _engine.judge_proposed
    assert isinstance(parts.PARTS.tool_guard, _engine.ToolGuard)
    assert runtime.get_runtime().processor.parts is parts.PARTS


def test_the_guard_is_imported_on_first_use_and_then_judges() -> None:
    code = """
import sys
import staso_integrations as st
from staso_integrations._core.parts import PARTS
assert "staso_integrations.guard" not in sys.modules
assert not PARTS.tool_guard.has_rules()
st.init(exporter="none", processor="simple")
@st.tool
def delete(path):
    return "deleted"
assert delete("/etc") == "deleted"
st.guard.rule(lambda call: call.arguments["path"] != "/etc", name="no_etc")
st.guard.policy(mode="enforce")
try:
    delete("/etc")
except st.guard.ToolBlocked as blocked:
    print(blocked.reason)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "no_etc: failed", done.stderr
