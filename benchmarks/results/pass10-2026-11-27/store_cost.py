"""Per-span cost of the SQLite store's write, as it is (``store``) and as a log-append prototype
(``log``: one row per batch holding the batch's rows as one orjson array), on the processor's
thread's spans of a real OpenAI create (``scenarios.py``). Run under
``valgrind --tool=callgrind --instr-atstart=yes``; cgctl.so is CALLGRIND_ZERO_STATS/DUMP_STATS.
usage: store_cost.py SCENARIO store|log SPANS_PER_BATCH"""
import ctypes, gc, os, sys, sqlite3
sys.path.insert(0, "/work/main/benchmarks")
from scenarios import SCENARIOS
import staso_integrations as st
import orjson

class Capture:
    def __init__(self): self.batches = []
    def export(self, spans, traces): self.batches.append((list(spans), list(traces)))
    def shutdown(self): pass
    def force_flush(self, timeout=None): return True

cap = Capture()
st.init(exporter=cap); st.instrument_all()
call, _ = SCENARIOS[sys.argv[1]]()
for _ in range(1000): call()
st.flush()
spans = [s for b in cap.batches for s in b[0]]
traces = [t for b in cap.batches for t in b[1]]
print(len(spans), "spans", len(traces), "traces", file=sys.stderr)
from staso_integrations.exporters.sqlite import SqliteExporter, _span_rows
mode = sys.argv[2]
B = int(sys.argv[3])  # spans per batch
cg = ctypes.CDLL("/work/s9/cgctl.so")
path = f"/tmp/store_{mode}.db"
for suffix in ("", "-wal", "-shm"):
    try: os.remove(path + suffix)
    except FileNotFoundError: pass
if mode == "store":
    ex = SqliteExporter(path)
    ex.export(spans[:B], [])  # open + warm
    write = lambda chunk: ex.export(chunk, [])
elif mode == "log":
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL"); conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, batch BLOB)")
    dumps = orjson.dumps
    def write(chunk):
        rows = _span_rows(chunk)
        blob = dumps(rows)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO log (batch) VALUES (?)", (blob,))
        conn.execute("COMMIT")
    write(spans[:B])
rest = spans[B:]
gc.collect(); gc.freeze()
at = 0
for n in (1, 5, 5):  # the first dump also holds the start-up; the two of 5 batches are the figure
    cg.cg_zero()
    for _ in range(n):
        write(rest[at:at + B]); at += B
    cg.cg_dump()
