"""Transparent OpenAI tracing: two lines of setup, the OpenAI code itself is unchanged.

    python examples/openai_quickstart.py           # offline, replays cassettes/examples/
    python examples/openai_quickstart.py --live    # real API, needs OPENAI_API_KEY

Each call becomes an ``llm`` span (model, tokens, cost, latency, TTFT for the stream); the
console exporter prints the trees at the end and the local store keeps them
(``staso-integrations traces list``).
"""

from __future__ import annotations

import staso_integrations as st

st.init(agent_name="quickstart", exporter=["console", "sqlite"], source_type="sandbox")
st.instrument_all()

from _replay import offline_unless_live
from openai import OpenAI

with offline_unless_live("openai_quickstart"):
    client = OpenAI(max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Name one famous bridge in San Francisco. One line."}],
    )
    print(reply.choices[0].message.content)

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Count from 1 to 5, comma separated."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    print("".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices))

st.shutdown()  # flush: the console exporter prints one tree per trace
