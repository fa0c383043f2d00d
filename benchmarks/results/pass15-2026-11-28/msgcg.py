import ctypes, gc, sys
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from staso_integrations.integrations.langchain import _extract as ex
hist = [SystemMessage("You are a helpful assistant.")]
for i in range(10):
    hist += [HumanMessage(f"question {i}"), AIMessage("", tool_calls=[{"id": f"c{i}", "name": "lookup", "args": {"q": "x"}}]),
             ToolMessage("42", tool_call_id=f"c{i}"), AIMessage(f"answer {i}")]
state = {"messages": hist}
single = HumanMessage("Say hello in five words.")
cg = ctypes.CDLL("/work/s9/cgctl.so")
for _ in range(200): ex.value(state); ex.message(single)
gc.collect(); gc.freeze()
cg.cg_zero()
for _ in range(100): ex.value(state)
cg.cg_dump()
for _ in range(100): ex.message(single)
cg.cg_dump()
