"""A LangChain agent (``create_agent`` over ``ChatOpenAI``) with two tools, traced.

    python examples/langchain_agent.py           # offline, replays cassettes/examples/
    python examples/langchain_agent.py --live    # real API, needs OPENAI_API_KEY

One trace: the ``agent`` span of the graph, its model and tools nodes, an ``llm`` span per model
call (exact usage from the OpenAI response) and a ``tool`` span per tool call.
"""

from __future__ import annotations

import staso_integrations as st

st.init(agent_name="travel-agent", exporter=["console", "sqlite"], source_type="sandbox")
st.instrument_all()

from _replay import offline_unless_live
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"Sunny, 24°C in {city}"


@tool
def get_local_time(city: str) -> str:
    """Local time in a city, 24-hour clock."""
    return "18:40"


with offline_unless_live("langchain_agent"):
    agent = create_agent(
        ChatOpenAI(model="gpt-4o-mini", temperature=0, max_retries=0),
        tools=[get_weather, get_local_time],
        system_prompt="You are a concise travel assistant. Use the tools.",
        name="travel_agent",
    )
    result = agent.invoke({"messages": [{"role": "user", "content": "Weather and local time in Lisbon?"}]})
    print(result["messages"][-1].content)

st.shutdown()  # flush: the console exporter prints the trace tree
