"""A LangGraph agent turn without network: a fake chat model that calls a tool, then answers,
over a history of 40 messages. Instructions per turn (callgrind zero/dump around the turns)."""
import ctypes, gc, os, sys
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import StateGraph, MessagesState, START, END
from langgraph.prebuilt import ToolNode

MODE = sys.argv[1]
if MODE != "none":
    import staso_integrations as st
    st.init(exporter="sqlite" if MODE == "sqlite" else "none", sqlite_path="/tmp/graphcg.db")
    st.instrument_all()

@tool
def lookup(q: str) -> str:
    """Look something up."""
    return "42"

def replies():
    while True:
        yield AIMessage("", tool_calls=[{"id": "c1", "name": "lookup", "args": {"q": "x"}}])
        yield AIMessage("The answer is 42.")

model = GenericFakeChatModel(messages=replies())
def agent(state):
    return {"messages": [model.invoke(state["messages"])]}
def route(state):
    return "tools" if state["messages"][-1].tool_calls else END
g = StateGraph(MessagesState)
g.add_node("agent", agent); g.add_node("tools", ToolNode([lookup]))
g.add_edge(START, "agent"); g.add_conditional_edges("agent", route, ["tools", END]); g.add_edge("tools", "agent")
app = g.compile()
history = [SystemMessage("You are a helpful assistant.")]
for i in range(10):
    history += [HumanMessage(f"question {i}"), AIMessage("", tool_calls=[{"id": f"c{i}", "name": "lookup", "args": {"q": "x"}}]),
                ToolMessage("42", tool_call_id=f"c{i}"), AIMessage(f"answer {i}")]
def turn():
    out = app.invoke({"messages": [*history, HumanMessage("and now?")]})
    assert out["messages"][-1].content == "The answer is 42.", out["messages"][-1]
for _ in range(20): turn()
if MODE != "none": st.flush()
cg = ctypes.CDLL("/work/s9/cgctl.so")
gc.collect(); gc.freeze()
cg.cg_zero()
for _ in range(20): turn()
if MODE != "none": st.flush(timeout=3600)
cg.cg_dump()
