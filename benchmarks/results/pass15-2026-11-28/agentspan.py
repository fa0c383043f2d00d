"""One agent model call's span as the OpenAI integration records it (a 37-message history with
tool calls in, a tool call out), through the whole pipeline, with the store: instructions per span."""
import ctypes, gc, sys
import staso_integrations as st
from staso_integrations._core.span import Usage
st.init(exporter=sys.argv[1], processor="simple", sqlite_path="/tmp/agentspan.db")
msgs = [{"role": "system", "content": "You are a helpful assistant that answers questions about the weather."}]
for i in range(12):
    msgs += [{"role": "user", "content": f"What is the weather in city number {i}?"},
             {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{i}abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
             {"role": "tool", "tool_call_id": f"call_{i}abc", "content": '{"temperature": 21, "conditions": "sunny"}'}]
def one():
    with st.span("chat gpt-4o-mini", kind="llm", input=msgs) as span:
        span.provider, span.request_model, span.response_model = "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"
        span.usage = Usage(input=900, output=20, total=920)
        span.metadata["params"] = {"temperature": 0.2}
        span.tool_calls = [{"id": "call_x", "name": "get_weather", "arguments": '{"city": "Rome"}'}]
        span.output = {"role": "assistant", "content": None, "tool_calls": [{"id": "call_x", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]}
        span.finish_reason = "tool_calls"
for _ in range(50): one()
cg = ctypes.CDLL("/work/s9/cgctl.so")
gc.collect(); gc.freeze()
cg.cg_zero()
for _ in range(100): one()
cg.cg_dump()
