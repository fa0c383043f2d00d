"""A prelude for ``python -c`` programs: OpenTelemetry unimportable, as without the ``otlp`` extra."""

BLOCK_OTEL = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
"""
