"""Runs one traced program, offline on its cassette, with OTLP export to Phoenix and MLflow.

    python tests/consumers/drive.py SCENARIO PHOENIX_TRACES_URL MLFLOW_TRACES_URL MLFLOW_EXPERIMENT_ID

Our test environment runs it (the servers run from their own venvs). ``init()`` is wrapped so
the program's own exporters stay and two ``otlp`` exporters are added; every scenario runs in
a conversation with a user and a session (the demo sets its own).
"""

from __future__ import annotations

import runpy
import sys
import tempfile
from pathlib import Path
from typing import Any

import staso_integrations as st
from staso_integrations.exporters.otlp import OtlpExporter

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = ("demo", "openai_quickstart", "anthropic_tools", "langchain_rag", "llamaindex_rag")


def main(scenario: str, phoenix_url: str, mlflow_url: str, experiment_id: str) -> None:
    original_init = st.init

    def init(**kwargs: Any) -> Any:
        asked = kwargs.get("exporter") or []
        to_phoenix = OtlpExporter(endpoint=phoenix_url, timeout_s=30)
        to_mlflow = OtlpExporter(
            endpoint=mlflow_url, headers={"x-mlflow-experiment-id": experiment_id}, timeout_s=30
        )
        kwargs["exporter"] = [*([asked] if isinstance(asked, str) else asked), to_phoenix, to_mlflow]
        return original_init(**kwargs)

    st.init = init  # type: ignore[assignment]
    with st.conversation(f"conv-{scenario}", user_id="user-h19", session_id=f"sess-{scenario}"):
        if scenario == "demo":
            from staso_integrations.demo import run_demo

            assert run_demo(db=str(Path(tempfile.mkdtemp()) / "traces.db")) == 0
        elif scenario == "langchain_rag":
            _langchain_rag()
        else:
            sys.path.insert(0, str(REPO / "examples"))
            runpy.run_path(str(REPO / "examples" / f"{scenario}.py"), run_name="__main__")
    st.shutdown()


def _langchain_rag() -> None:
    sys.path.insert(0, str(REPO / "tests" / "integrations" / "langchain"))
    from lc_app import QUESTION, rag_chain  # type: ignore[import-not-found]

    from staso_integrations._demo.replay import replay

    st.init(exporter=[], agent_name="rag-bot")
    st.instrument_all(include=["langchain", "openai"])
    with replay(REPO / "cassettes" / "langchain" / "rag_chain.yaml"):
        print(rag_chain().invoke(QUESTION))


if __name__ == "__main__":
    main(*sys.argv[1:5])
