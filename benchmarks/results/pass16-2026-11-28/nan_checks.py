import sys, timeit
sys.path.insert(0, "/work/main/benchmarks")
import staso_integrations as st
st.init(exporter="none", processor="simple"); st.instrument_all()
from scenarios import SCENARIOS
call, _ = SCENARIOS[sys.argv[1]]()
call()
from staso_integrations._core import sanitize as S
got = []
orig = S._decodes_to; oct = S._content_text
def dec(values):
    r = oct(values); got.append((r, values)); return r
S._content_text = dec
call(); st.flush()
text, values = max(got, key=lambda g: len(g[0]))
print(len(text))
import orjson
for name, f in [("loads", lambda: orjson.loads(text)), ("decodes_to", lambda: orig(text, values)), ("dumps", lambda: orjson.dumps(values)), ("count", lambda: text.count("null"))]:
    n = 2000; t = min(timeit.repeat(f, number=n, repeat=5)) / n * 1e6
    print(f"{name:12s} {t:6.2f} us")
import marshal
for v in (2, 4):
    n = 2000; t = min(timeit.repeat(lambda: marshal.dumps(values, v), number=n, repeat=5)) / n * 1e6
    d = marshal.dumps(values, v); print(f"marshal v{v} {t:6.2f} us", len(d), b"\x7f" in d, b"\xff" in d)
print(marshal.dumps(float("nan"), 2), marshal.dumps(float("inf"),2), marshal.dumps(float("-inf"),2), marshal.dumps(-float("nan"),2))
n=2000; d = marshal.dumps(values, 2); t = min(timeit.repeat(lambda: b"\x7f" in d or b"\xff" in d, number=n, repeat=5)) / n * 1e6; print("memchr", t)
import pickle
for name, f in [("pickle5", lambda: pickle.dumps(values, 5)), ("repr", lambda: repr(values)), ("marshal4", lambda: marshal.dumps(values)), ("marshal3", lambda: marshal.dumps(values, 3)), ("decodes_to", lambda: orig(text, values))]:
    n = 2000; t = min(timeit.repeat(f, number=n, repeat=5)) / n * 1e6
    print(f"{name:12s} {t:6.2f} us")
