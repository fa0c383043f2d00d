"""The fault suite, sampling side: keep_errors under a root that never ends holds a bounded set.

A worker loop under one long-lived root span, ``sample_rate`` < 1 and ``keep_errors=True``:
every child waits for a root that does not end. The test runs the loop in a real process and
checks the spans held (count and estimated bytes) against the caps, and that every span that
is not held is counted as dropped. ``WORKER`` doubles as the RSS measurement (run it alone:
``python tests/reliability/test_sampling_faults.py 200000``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

WORKER = """
    import resource, sys
    import staso_integrations as st
    from staso_integrations._core import runtime
    from staso_integrations._core.drops import drop_counts

    def rss_mb():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS"))
        return int(line.split()[1]) / 1024

    n, content_chars = int(sys.argv[1]), int(sys.argv[2])
    st.init(exporter="memory", sample_rate=0.5, keep_errors=True)
    processor = runtime.get_runtime().processor
    keeper = processor.error_keeper
    before = rss_mb()
    sampled_out_roots = 0
    while True:  # a root the sampler dropped: its children are held for keep_errors
        with st.span("worker-loop", kind="agent") as root:
            if root.sampled:
                continue
            for index in range(n):
                with st.span("job", kind="tool") as job:
                    job.input = {"job": index, "payload": "x" * content_chars}
                if index % 1_000 == 0:
                    st.flush(30)
            st.flush(30)
            held = sum(len(spans) for spans in keeper._held.values())
            held_bytes = getattr(keeper, "held_bytes", -1)
            drops = drop_counts()
            print(held, held_bytes, drops["sampling_buffer"], max(drops["queue_full"], processor.dropped),
                  round(rss_mb() - before, 1), flush=True)
            break
"""


def _run_worker(n: int, content_chars: int) -> tuple[int, int, int, int, float]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WORKER), str(n), str(content_chars)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    held, held_bytes, sampling_drops, queue_drops, rss = done.stdout.split()
    return int(held), int(held_bytes), int(sampling_drops), int(queue_drops), float(rss)


@pytest.mark.parametrize(
    ("n", "content_chars", "bound"),
    [(30_000, 10, "count"), (12_000, 8_000, "bytes")],
)
def test_keep_errors_under_a_root_that_never_ends_holds_a_bounded_set(
    n: int, content_chars: int, bound: str
) -> None:
    from staso_integrations._core.sampling import MAX_HELD_BYTES, MAX_HELD_SPANS

    held, held_bytes, sampling_drops, queue_drops, rss = _run_worker(n, content_chars)
    print(f"{n} spans of {content_chars} chars: held {held} ({held_bytes / 1e6:.1f} MB est.), "
          f"dropped {sampling_drops} (sampling_buffer) + {queue_drops} (queue), RSS +{rss} MB")  # fmt: skip
    assert held <= MAX_HELD_SPANS and 0 <= held_bytes <= MAX_HELD_BYTES
    assert held + sampling_drops + queue_drops == n
    if bound == "count":
        assert held == MAX_HELD_SPANS or queue_drops
    else:
        assert held_bytes > MAX_HELD_BYTES * 0.9 and held < MAX_HELD_SPANS


if __name__ == "__main__":
    held, held_bytes, sampling_drops, queue_drops, rss = _run_worker(int(sys.argv[1]), 10)
    print(f"held {held}, ~{held_bytes / 1e6:.1f} MB; dropped {sampling_drops} + {queue_drops}; RSS +{rss} MB")
