"""The pieces a report page is made of: the view of one task that every per-task section reads,
the tables they fill, and the page sections the template loops over.

A per-task section is a function ``build(view: TaskView) -> (part | None, plots)``: ``part`` is the
data its template partial renders for that task (None when the task has nothing for it) and
``plots`` maps figure div ids to figures. The page calls every section in :data:`TASK_SECTIONS`
for every task; a new section is one more module with such a function and one more partial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from nnbench import verdict

# The CSS class of a cell by its column's kind (see templates/_macros.html).
CELL_CLASSES = {
    "text": "",
    "num": "num",
    "name": "name",
    "arch": "name",
    "error": "error",
    "status": "status",
    "wrap": "wrap",
    "link": "name",
    "href": "name",
    "verdict": "name",
}


@dataclass(frozen=True)
class Column:
    """A table column: the row key it shows, its header and how its cells look.

    ``kind`` is ``text``, ``num`` (right-aligned figures), ``name``, ``arch`` (an architecture label,
    badged when the row is a non-neural reference), ``error`` (monospace, wraps anywhere),
    ``status``, ``wrap`` (prose that wraps at words), ``link`` (a link to ``#row["anchor"]``),
    ``href`` (a link to the relative URL ``row[key + "_href"]``, plain text when that is empty) or
    ``verdict`` (an outcome word, coloured by its CSS class ``verdict-<word>``);
    ``hover`` names a row key shown as the cell's tooltip.
    """

    key: str
    title: str
    kind: str = "text"
    hover: str | None = None

    @property
    def css(self) -> str:
        """The cell's CSS class."""
        return CELL_CLASSES[self.kind]


@dataclass
class Table:
    """One table of a page: its CSS class (tests and styles find it by that), columns and rows."""

    css_class: str
    columns: list[Column]
    rows: list[dict[str, Any]]


@dataclass
class TaskView:
    """Everything a per-task section may read about one task. Fields are only ever added."""

    index: int  # 1-based position of the task on the page (figure ids and anchors use it)
    name: str
    trials: pd.DataFrame  # every trial of the task, tuning trials included
    competing: pd.DataFrame  # the trials that compete: without tuning trials
    points: pd.DataFrame  # validation points of the primary metric of competing trials that ended ok
    metric: str
    higher_is_better: bool
    description: str = ""
    colors: dict[str, str] = field(default_factory=dict)  # architecture label -> colour
    family_colors: dict[str, str] = field(default_factory=dict)  # scaling family -> colour
    looks: verdict.Looks = verdict.ONE_LOOK  # the looks adaptive seeds planned (the verdicts' error control)
    task: str = ""  # the registered task's name (``name`` adds the options that tell configurations apart)

    @property
    def direction(self) -> str:
        """``higher is better`` or ``lower is better``."""
        return "higher is better" if self.higher_is_better else "lower is better"


SectionBuilder = Callable[[TaskView], tuple[Any, dict[str, Any]]]


@dataclass(frozen=True)
class TaskSectionKind:
    """A per-task section: how to build one task's part, and how the page shows the parts.

    ``per_task`` sections get a page section (and a table-of-contents entry) per task, like each
    task's own section; the others gather every task's part under one heading (``id``, ``title``).
    """

    id: str
    title: str
    template: str
    build: SectionBuilder
    per_task: bool = False


@dataclass
class PageSection:
    """One section of the page as the template renders it: ``{% include template %}`` with ``data``."""

    id: str
    title: str
    template: str
    data: Any
    in_toc: bool = True
