"""The runnable blocks of a Markdown page: every ```bash, ```console and ```python block,
in page order, with the marker written right before it.

Markers are HTML comments on the line just before the opening fence (a blank line between
is allowed); the site does not show them:

- ``<!-- illustration: why -->``: the block is not run (it needs a network, a cluster, a
  container runtime, a second machine...); the reason is required.

- ``<!-- needs: promtool -->``: the block runs a program that a development machine may
  lack; without it the block is skipped, unless ``KASKAD_REQUIRE_SERVICES=1`` (as in
  ``.ci/run``, which installs it), where that fails.

A ``kaskad serve`` command (long-running) needs no marker: it starts in the background,
the next command runs once it answers ``/ready``, and it is stopped when the next server
starts or the page ends (see tests/docs/runner.py).

A ``console`` block's commands are its ``$ `` lines (a trailing ``\\`` continues one on the
next line, a here-document runs to its delimiter); the other lines are what the command
prints, shown, not compared. A ``bash`` block is one script. A ``python`` block runs in a
namespace shared by the page's Python blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RUNNABLE = ("bash", "console", "python")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")
MARKER = re.compile(r"<!--\s*illustration\s*(?::\s*(?P<why>.*?))?\s*-->\s*$", re.S)
NEEDS = re.compile(r"<!--\s*needs:\s*(?P<tools>[\w\- ]+?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    illustration: str | None  # the reason, when marked
    needs: tuple[str, ...] = ()  # programs it runs that a development machine may lack

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"

    def commands(self) -> list[str]:
        """A console block's commands, a bash block's script, as written."""
        if self.lang == "bash":
            return [self.text]
        commands: list[str] = []
        lines = iter(self.text.splitlines())
        for line in lines:
            if not line.startswith("$ "):
                continue
            command = line[2:]
            while command.endswith("\\"):
                command = command + "\n" + next(lines, "")
            heredoc = HEREDOC.search(command)
            if heredoc:  # the here-document's lines, up to its delimiter, belong to it
                for body in lines:
                    command += "\n" + body
                    if body == heredoc.group(1):
                        break
            commands.append(command)
        return commands


def page_blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page`` in one of the runnable languages."""
    text = page.read_text(encoding="utf-8")
    blocks: list[Block] = []
    for match in FENCE.finditer(text):
        lang = match.group(1)
        if lang not in RUNNABLE:
            continue
        before = text[: match.start()].rstrip()
        last = before.rsplit("\n", 1)[-1] if before else ""
        marker = MARKER.search(last)
        why = None
        if marker:
            why = (marker.group("why") or "").strip()
            if not why:
                raise ValueError(f"{page.name}: an illustration marker must say why")
        needs = NEEDS.search(last)
        tools = tuple(needs.group("tools").split()) if needs else ()
        line = text[: match.start()].count("\n") + 1
        blocks.append(Block(page, line, lang, match.group(2), why, tools))
    return blocks


def untagged_commands(page: Path) -> list[int]:
    """Lines of fenced blocks with no language whose first line is a command (``$ ...`` or
    ``kaskad ...``): they must be tagged so that they run (or marked as illustration)."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        first = match.group(2).lstrip().split("\n", 1)[0]
        if match.group(1) == "" and re.match(r"(\$ |kaskad |\.venv/bin/)", first):
            found.append(text[: match.start()].count("\n") + 1)
    return found
