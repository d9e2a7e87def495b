"""Decision ids: version-7 UUIDs (time-ordered), unique, with random bits from the system's
random source read in chunks; a forked process does not repeat its parent's."""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from kaskad.serve.ids import decision_id


def test_ids_are_unique_version_7_uuids_across_threads() -> None:
    before = time.time_ns() // 1_000_000
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: decision_id(), range(20_000)))
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for text in ids[::997]:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
        assert before <= parsed.int >> 80 <= after  # the Unix time in milliseconds


def test_ids_made_later_sort_later() -> None:
    ids = []
    for _ in range(20):
        ids.append(decision_id())
        time.sleep(0.0005)  # the fraction of the millisecond orders them within one
    assert ids == sorted(ids)
    # the random part differs between ids made in the same instant
    assert len({i.split("-", 3)[3] for i in ids}) == len(ids)


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    decision_id()  # the parent holds a buffer now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, "\n".join(decision_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    parent = {decision_id() for _ in range(50)}
    assert len(child) == 50 and not child & parent
