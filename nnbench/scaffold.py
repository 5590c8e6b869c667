"""``nnbench new-plugin``: write a pip-installable architecture plugin package that passes the kit.

The package has a ``pyproject.toml`` registering the module under the ``nnbench`` entry-point group,
one module with a small working architecture (a residual MLP, written as docs/plugins.md teaches),
a test that runs :func:`nnbench.testing.assert_architecture_conforms` on it, and a README.
Only the standard library is imported here.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

from nnbench.errors import NnbenchError
from nnbench.names import NAME_PATTERN  # the registry's rule for architecture names

BARE_TOML_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin name turns into."""

    name: str  # the architecture's registered name and the entry point's name: "my-arch"
    module: str  # the importable package: "nnbench_my_arch"
    project: str  # the distribution on PyPI: "nnbench-my-arch"
    class_name: str  # the Architecture subclass: "MyArch"
    identifier: str  # the name as a Python identifier: "my_arch"


def plugin_names(name: str) -> PluginNames:
    """Derive the package's names from an architecture name; a name the registry would refuse is an error."""
    if not NAME_PATTERN.match(name):
        raise NnbenchError(
            f"plugin name {name!r}: use lower-case letters, digits, '-', '_' or '.', starting with a letter "
            "or digit (it becomes the architecture's name in suites)"
        )
    identifier = re.sub(r"[^a-z0-9_]", "_", name)
    parts = [p for p in re.split(r"[^a-z0-9]+", name) if p]
    class_name = "".join(p[:1].upper() + p[1:] for p in parts) or "Plugin"
    if class_name[0].isdigit():
        class_name = "Arch" + class_name
    return PluginNames(
        name=name,
        module=f"nnbench_{identifier}",
        project=f"nnbench-{name}",
        class_name=class_name,
        identifier=identifier,
    )


PYPROJECT = string.Template(
    """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$project"
version = "0.1.0"
description = "$class_name: an nnbench architecture plugin."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["nnbench"]

[project.optional-dependencies]
test = ["pytest>=8"]

# nnbench finds the architecture through this entry point, as it finds its own built-ins.
[project.entry-points.nnbench]
$entry_key = "$module"

[tool.setuptools]
packages = ["$module"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""
)

MODULE = string.Template(
    '''\
"""$class_name: a residual MLP on flattened inputs.

Pre-norm residual feed-forward blocks (He et al., 2016, "Deep Residual Learning for
Image Recognition"; layer normalisation: Ba, Kiros & Hinton, 2016) on the flattened
input. Written by ``nnbench new-plugin`` as a starting point: change the blocks, keep
the contract (nnbench's docs/plugins.md), and ``pytest`` keeps checking it with
nnbench's conformance kit.
"""

import math

import nnbench
import torch
from nnbench import hookimpl
from torch import nn

__version__ = "0.1.0"


class ResidualBlock(nn.Module):
    """x + W2(GELU(W1 LayerNorm(x))): a pre-norm feed-forward block."""

    def __init__(self, *, width: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, 2 * width)
        self.down = nn.Linear(2 * width, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = nn.functional.gelu(self.up(self.norm(x)))  # (B, 2 * width)
        return x + self.dropout(self.down(hidden))  # (B, width)


class $class_name(nnbench.Architecture):
    """A residual MLP on the flattened input."""

    name = "$name"
    modalities = {"tabular", "image"}  # which task modalities it can take
    kinds = {"classification", "regression"}  # which task kinds

    class Config(nnbench.Config):  # pydantic; unknown keys in a suite are an error
        width: int = 64  # hidden units
        depth: int = 2  # residual blocks
        dropout: float = 0.0  # dropout after each block's feed-forward

    def build(self, task: nnbench.TaskSpec, config: nnbench.Config) -> nn.Module:
        """A model from ``(B, *task.input_shape)`` to ``(B, *task.output_shape)``."""
        features = math.prod(task.input_shape)
        outputs = math.prod(task.output_shape)
        blocks = [
            ResidualBlock(width=config.width, dropout=config.dropout)
            for _ in range(config.depth)
        ]
        return nn.Sequential(
            nn.Flatten(),  # (B, *input_shape) -> (B, features)
            nn.Linear(features, config.width),
            *blocks,
            nn.LayerNorm(config.width),
            nn.Linear(config.width, outputs),
            nn.Unflatten(1, task.output_shape),  # (B, outputs) -> (B, *output_shape)
        )


@hookimpl
def register_architectures(register):
    """Register $class_name with nnbench."""
    register($class_name())
'''
)

TEST = string.Template(
    '''\
"""The plugin keeps nnbench's contract (install it first: ``pip install -e .``)."""

from nnbench.testing import assert_architecture_conforms


def test_${identifier}_conforms():
    """nnbench finds it through its entry point; every check of the kit passes."""
    assert_architecture_conforms("$name")
'''
)

README = string.Template(
    """\
# $project

`$name`, an architecture plugin for [nnbench](https://pypi.org/project/nnbench/): $class_name, a
residual MLP on flattened inputs (tabular and image tasks, classification and regression).

## Install and check

```console
$$ pip install -e ".[test]"
$$ nnbench list architectures  # lists $name, from the plugin "$name ($module)"
$$ nnbench check $name  # the conformance kit, task by task
$$ pytest  # the same kit, as a test
```

## Use it in a suite

```yaml
name: $identifier-vs-mlp
seeds: [0, 1, 2]
budget: {steps: 300, time: 30s}
tasks: [digits, tabular-real]
architectures: [mlp, {name: $name, width: [64, 128]}]
```

```console
$$ nnbench run suite.yaml && nnbench report -o report.html
```

## Layout

- `$module/__init__.py`: the architecture (its `Config`, `build`) and the `register_architectures` hook
- `pyproject.toml`: the entry point `[project.entry-points.nnbench] $entry_key = "$module"` that makes
  nnbench find it
- `tests/test_$identifier.py`: `assert_architecture_conforms("$name")` from `nnbench.testing`
"""
)


def _toml_key(key: str) -> str:
    return key if BARE_TOML_KEY.match(key) else json.dumps(key)


def write_plugin_package(name: str, directory: str | Path) -> list[Path]:
    """Write the plugin package for architecture ``name`` into ``directory``; return the files written.

    ``directory`` must not exist or be empty: nothing is ever overwritten.
    """
    names = plugin_names(name)
    directory = Path(directory)
    if directory.exists():
        if not directory.is_dir():
            raise NnbenchError(f"{directory}: is a file, not a folder")
        if any(directory.iterdir()):
            raise NnbenchError(
                f"{directory}: the folder is not empty; give a new or empty one with --dir "
                "(nothing was written)"
            )
    values = {
        "name": names.name,
        "module": names.module,
        "project": names.project,
        "class_name": names.class_name,
        "identifier": names.identifier,
        "entry_key": _toml_key(names.name),
    }
    files = {
        directory / "pyproject.toml": PYPROJECT.substitute(values),
        directory / names.module / "__init__.py": MODULE.substitute(values),
        directory / "tests" / f"test_{names.identifier}.py": TEST.substitute(values),
        directory / "README.md": README.substitute(values),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
