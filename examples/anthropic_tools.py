"""Anthropic tool use, traced: the model asks for a tool, we run it, the model answers.

    python examples/anthropic_tools.py           # offline, replays cassettes/examples/
    python examples/anthropic_tools.py --live    # real API, needs ANTHROPIC_API_KEY

One trace: an ``agent`` span (our loop), two ``llm`` spans (Anthropic ``messages``, with the
requested tool call on the first) and the ``tool`` span in between.
"""

from __future__ import annotations

import json
from typing import Any

import staso_integrations as st

st.init(agent_name="weather-bot", exporter=["console", "sqlite"], source_type="sandbox")
st.instrument_all()

import anthropic
from _replay import offline_unless_live

MODEL = "claude-haiku-4-5"
TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


@st.tool(name="get_weather")
def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "sky": "light rain", "celsius": 12}


@st.agent(name="weather-bot")
def ask(client: anthropic.Anthropic, question: str) -> str:
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    response = client.messages.create(model=MODEL, max_tokens=512, tools=TOOLS, messages=messages)
    while response.stop_reason == "tool_use":
        messages.append({"role": "assistant", "content": response.content})
        results = [
            {
                "type": "tool_result",
                "tool_use_id": block.id,
                "content": json.dumps(get_weather(**block.input)),
            }
            for block in response.content
            if block.type == "tool_use"
        ]
        messages.append({"role": "user", "content": results})
        response = client.messages.create(model=MODEL, max_tokens=512, tools=TOOLS, messages=messages)
    return "".join(block.text for block in response.content if block.type == "text")


with offline_unless_live("anthropic_tools", key="ANTHROPIC_API_KEY"):
    print(ask(anthropic.Anthropic(max_retries=0), "Do I need an umbrella in Dublin today?"))

st.shutdown()  # flush: the console exporter prints the trace tree
