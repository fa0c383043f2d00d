"""Instructions per ``isinstance(our handler, X)``: X is LangChain's ``_StreamingCallbackHandler``
Protocol (``protocol``) or the stand-in the instrumented modules hold (``stand_in``).

    for n in 100 1100; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python protocol_check.py $n protocol 2>&1 | grep Collected; done
    # per check: (Ir(1100) - Ir(100)) / 1000
"""

import sys

import langchain_core.language_models.chat_models as chat_models
from langchain_core.tracers._streaming import _StreamingCallbackHandler

import staso_integrations as st
from staso_integrations.integrations.langchain._callback import HANDLER

st.init(exporter="none")
st.instrument_all(include=["langchain"])
checked = chat_models._StreamingCallbackHandler if sys.argv[2] == "stand_in" else _StreamingCallbackHandler
for _ in range(int(sys.argv[1])):
    isinstance(HANDLER, checked)
