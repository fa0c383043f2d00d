"""Opcodes per call by function (sys.settrace opcode events), as the opcodes_*.txt files were counted:
    WARM=3 NCALLS=2 PYTHONPATH=<tree> python opcodes.py "langchain chain stream" staso|none ""
(the last argument: a filename prefix to list; "" lists all)."""
import sys, collections
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks/
from scenarios import SCENARIOS
scen = sys.argv[1]; mode = sys.argv[2]; PREFIX = sys.argv[3] if len(sys.argv) > 3 else "staso_integrations"
if mode != "none":
    import staso_integrations as st
    st.init(exporter=mode, processor="simple") if mode == "none2" else st.init(exporter="none", processor="simple")
    st.instrument_all()
call, _ = SCENARIOS[scen]()
for _ in range(int(__import__("os").environ.get("WARM", "30"))): call()
counts = collections.Counter()
def tracer(frame, event, arg):
    frame.f_trace_opcodes = True
    code = frame.f_code
    key = f"{code.co_filename.split('site-packages/')[-1].replace('/work/main/','')}:{code.co_firstlineno}:{code.co_name}"
    def local(frame, event, arg):
        if event == "opcode":
            counts[key] += 1
        return local
    return local
N = int(__import__("os").environ.get("NCALLS", "5"))
sys.settrace(tracer)
for _ in range(N): call()
sys.settrace(None)
tot = sum(counts.values()) / N
ours = {k: v / N for k, v in counts.items() if k.startswith(PREFIX)}
print(f"total opcodes/call {tot:.0f}; ours {sum(ours.values()):.0f}")
for k, v in sorted(ours.items(), key=lambda kv: -kv[1])[:400]:
    print(f"{v:7.0f} {k}")
