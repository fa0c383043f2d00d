import sys, time, os, sqlite3
sys.path.insert(0, "/work/main/benchmarks")
from scenarios import SCENARIOS
import staso_integrations as st, orjson
class Capture:
    def __init__(self): self.spans = []
    def export(self, spans, traces): self.spans += spans
    def shutdown(self): pass
cap = Capture(); st.init(exporter=cap); st.instrument_all()
call, _ = SCENARIOS["openai create (sync)"]()
for _ in range(2000): call()
st.flush()
from staso_integrations.exporters._sqlite_schema import SPAN_COLUMNS, open_for_writing, LONE_TRACES
from staso_integrations.exporters.sqlite import SqliteExporter
names = [c.name for c in SPAN_COLUMNS]
def rows(spans):
    out = []
    for s in spans:
        u = s.usage
        vals = []
        for c in SPAN_COLUMNS:
            ns = {"item": s, "NO_ATTRS": None}
            try:
                v = eval(c.value, {"json_text": __import__("staso_integrations._core.schema", fromlist=["x"]).json_text, "content_values": __import__("staso_integrations._core.span", fromlist=["x"]).content_values, "NO_ATTRS": __import__("staso_integrations._core.span", fromlist=["x"]).EMPTY_TRACE_ATTRIBUTES}, {"item": s, "u": u, "attrs": s.trace_attrs})
            except Exception:
                v = None
            vals.append(v)
        out.append(vals)
    return out
R = rows(cap.spans)
def fresh_store_with_pending(path):
    """A new store at ``path`` whose ``pending`` table holds the rows, 100 spans per batch."""
    for sfx in ("", "-wal", "-shm"):
        try: os.remove(path + sfx)
        except FileNotFoundError: pass
    conn = open_for_writing(path, 3.0)
    conn.execute("CREATE TABLE pending (id INTEGER PRIMARY KEY, spans TEXT)")
    for i in range(0, len(R), 100):
        conn.execute("INSERT INTO pending (spans) VALUES (?)", (orjson.dumps(R[i:i+100]).decode(),))
    return conn
conn = fresh_store_with_pending("/tmp/fold.db")
sel = ", ".join(f"value ->> {i}" for i in range(len(names)))
fold = f"INSERT OR REPLACE INTO spans ({', '.join(names)}) SELECT {sel} FROM pending, json_each(pending.spans) ORDER BY pending.id, json_each.key"
t = time.perf_counter(); c0 = time.process_time()
conn.execute("BEGIN IMMEDIATE")
last = conn.execute("SELECT max(rowid) FROM spans").fetchone()[0] or 0
conn.execute(fold)
conn.execute(LONE_TRACES, (last,))
conn.execute("DELETE FROM pending")
conn.execute("COMMIT")
el = time.perf_counter() - t
print(f"fold {len(R)} spans: {el*1e6/len(R):.1f} us/span wall, cpu {(time.process_time()-c0)*1e6/len(R):.1f}")
print(conn.execute("select count(*) from spans").fetchone(), conn.execute("select count(*) from traces").fetchone())
# compare with direct export
path2 = "/tmp/direct.db"
for sfx in ("", "-wal", "-shm"):
    try: os.remove(path2+sfx)
    except FileNotFoundError: pass
ex = SqliteExporter(path2)
t = time.perf_counter()
for i in range(0, len(cap.spans), 100):
    ex.export(cap.spans[i:i+100], [])
print(f"direct export: {(time.perf_counter()-t)*1e6/len(cap.spans):.1f} us/span")
a = conn.execute("select * from spans order by trace_id").fetchall()
c2 = sqlite3.connect(path2); b = c2.execute("select * from spans order by trace_id").fetchall()
print("same rows:", a == b, len(a), len(b))
if a != b:
    for x, y in zip(a, b):
        if x != y:
            print([ (n, p, q) for n, p, q in zip(names, x, y) if p != q][:5]); break
# the fold by Python instead: decode each batch with orjson and executemany the rows
c3 = fresh_store_with_pending("/tmp/fold_py.db")
insert = f"INSERT OR REPLACE INTO spans ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
t = time.perf_counter()
c3.execute("BEGIN IMMEDIATE")
last = c3.execute("SELECT max(rowid) FROM spans").fetchone()[0] or 0
for (blob,) in c3.execute("SELECT spans FROM pending ORDER BY id").fetchall():
    c3.executemany(insert, orjson.loads(blob))
c3.execute(LONE_TRACES, (last,))
c3.execute("DELETE FROM pending")
c3.execute("COMMIT")
print(f"fold by python: {(time.perf_counter()-t)*1e6/len(R):.1f} us/span")
