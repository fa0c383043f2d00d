"""Prints, as JSON, what an MLflow tracking server made of the traces of one experiment.

    python tests/consumers/mlflow_query.py TRACKING_URI EXPERIMENT_ID

Runs in the MLflow venv (``.venv-mlflow``), through MLflow's own client: ``search_traces``
then ``get_trace``. One object per trace: its metadata (user, session), token usage, and per
span the type, inputs, outputs and the attributes MLflow derived.
"""

from __future__ import annotations

import json
import sys

from mlflow import MlflowClient


def main(tracking_uri: str, experiment_id: str) -> None:
    client = MlflowClient(tracking_uri)
    out = []
    for found in client.search_traces(locations=[experiment_id], max_results=100):
        trace = client.get_trace(found.info.trace_id)
        info = trace.info
        out.append(
            {
                "trace_id": info.trace_id,
                "metadata": dict(info.trace_metadata or {}),
                "token_usage": info.token_usage,
                "spans": [
                    {
                        "name": span.name,
                        "span_type": span.span_type,
                        "inputs": span.inputs,
                        "outputs": span.outputs,
                        "attributes": {k: v for k, v in span.attributes.items() if k.startswith("mlflow.")},
                    }
                    for span in trace.data.spans
                ],
            }
        )
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:3])
