import timeit
from itertools import repeat
from operator import is_
from staso_integrations._core import serialize as S
d = {"role": "user", "content": "question 3 about the weather in some city far away"}
d2 = {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]}
SAFE = frozenset({"role", "content", "name", "tool_call_id", "type", "id", "function", "arguments", "tool_calls", "text"})
PREF = S._SECRET_PREFIXES + ("data:",)
STR = str
def fast(value):
    if value.keys() <= SAFE:
        vals = list(value.values())
        types = set(map(type, vals))
        if types == {STR}:
            if max(map(len, vals)) < 1024 and not any(map(STR.startswith, vals, repeat(PREF))):
                return value.copy()
    return None
print(fast(d))
for name, f in [("_mapping d", lambda: S._mapping(d, 2)), ("fast d", lambda: fast(d)), ("_mapping d2", lambda: S._mapping(d2, 2)),
                ("copy", lambda: d.copy())]:
    n = 200000; t = min(timeit.repeat(f, number=n, repeat=5)) / n * 1e9
    print(f"{name:12s} {t:6.0f} ns")
