"""nnbench's pytest plugin (entry point ``pytest11``): fixtures for testing architecture plugins.

- ``nnbench_plugins``: a fresh nnbench plugin manager for one test; plugins and files loaded in it are
  forgotten after.
- ``nnbench_check``: :func:`nnbench.testing.assert_architecture_conforms`, run inside a fresh plugin manager.

Only pytest loads this module, so it may import pytest; the kit itself (:mod:`nnbench.testing`) never does.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def nnbench_plugins():
    """A fresh nnbench plugin manager for one test: plugins and files loaded in it are forgotten after."""
    from nnbench import plugins

    plugins.reset()
    yield plugins
    plugins.reset()


@pytest.fixture
def nnbench_check(nnbench_plugins):
    """:func:`nnbench.testing.assert_architecture_conforms`, run inside a fresh plugin manager."""
    from nnbench.testing import assert_architecture_conforms

    return assert_architecture_conforms
