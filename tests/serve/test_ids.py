"""Decision ids: version-4 UUIDs, unique, from the system's random source read in chunks;
a forked process does not repeat its parent's."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

from kaskad.serve.ids import decision_id


def test_ids_are_unique_version_4_uuids_across_threads() -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: decision_id(), range(20_000)))
    assert len(set(ids)) == len(ids)
    for text in ids[::997]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


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
