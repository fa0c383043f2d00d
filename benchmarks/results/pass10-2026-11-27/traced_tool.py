import gc, os, sys
mode, n = sys.argv[1], int(sys.argv[2])
import staso_integrations as st
db = f"/tmp/tt_{mode}_{os.getpid()}.db"
if mode != "plain":
    st.init(exporter="sqlite", sqlite_path=db)
def lookup(order_id: str) -> str:
    return f"order {order_id}: shipped"
fn = st.trace(kind="tool")(lookup) if mode == "traced" else lookup
for _ in range(200): fn("A-1")
if mode != "plain": st.flush()
gc.collect(); gc.freeze()
for _ in range(n): fn("A-1")
if mode != "plain": st.flush(); st.shutdown()
