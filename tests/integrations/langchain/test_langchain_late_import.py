"""``instrument_all()`` with only ``langchain_core`` imported: nothing of LangChain's models, tools or
tracers is loaded by us; each table entry applies when the app imports its module, and
``uninstrument_all()`` reverts all of them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = (
    "langchain_core.language_models.chat_models",
    "langchain_core.language_models.llms",
    "langchain_core.tools.base",
    "langchain_core.runnables.config",
    "langchain_core.tracers.context",
    "langsmith",
    "staso_integrations.integrations.langchain._callback",
    "staso_integrations.integrations.langchain._patches",
)

SCRIPT = textwrap.dedent(
    """
    import sys
    import langchain_core
    import staso_integrations as st
    from staso_integrations.exporters import InMemoryExporter

    HEAVY = {heavy!r}
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    assert st.instrument_all(include=["langchain"])["langchain"] == "instrumented"
    assert [m for m in HEAVY if m in sys.modules] == [], [m for m in HEAVY if m in sys.modules]

    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.runnables import RunnableLambda
    from langchain_core.tools import BaseTool, tool
    from staso_integrations.integrations.langchain import _callback

    @tool
    def lookup(city: str) -> str:
        \"\"\"Looks a city up.\"\"\"
        with st.span("mine"):
            return city.upper()

    model = FakeListChatModel(responses=["hello"])
    chain = RunnableLambda(lambda q: lookup.invoke({{"city": q}}), name="step") | (lambda v: model.invoke(v))
    chain.invoke("paris")
    by_name = {{s.name: s for s in memory.spans}}
    assert by_name["mine"].parent_span_id == by_name["lookup"].span_id, by_name
    assert by_name["lookup"].parent_span_id == by_name["step"].span_id, by_name
    assert by_name["FakeListChatModel"].kind == "llm", by_name
    wrapped = [
        type(vars(BaseChatModel)["_generate_with_cache"]).__name__,
        type(vars(BaseTool)["run"]).__name__,
    ]
    print(*wrapped, _callback.ACTIVE is not None)

    st.uninstrument_all()
    print(
        type(vars(BaseChatModel)["_generate_with_cache"]).__name__,
        type(vars(BaseTool)["run"]).__name__,
        _callback.ACTIVE is not None,
    )
    count = len(memory.spans)
    chain.invoke("rome")
    print(len(memory.spans) - count)
    """
)


def test_langchain_modules_imported_after_instrument_all_are_patched_then_reverted() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == [
        "FunctionWrapper", "FunctionWrapper", "True",  # patched on import, handler on
        "function", "function", "False",  # all reverted
        "1",  # only the user's own span
    ], done.stderr  # fmt: skip
