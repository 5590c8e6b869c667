"""Architectures and tasks by name, built once from the ``register_*`` hooks.

Each plugin's registration runs on its own, so an exception or an invalid registration in one
plugin is recorded against that plugin (see :mod:`nnbench.plugins`) and the others still register.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pydantic

from nnbench import plugins, space
from nnbench.errors import NnbenchError, PluginError
from nnbench.names import NAME_PATTERN, did_you_mean
from nnbench.types import KINDS, MODALITIES, Architecture, Task


@dataclass
class Registry:
    """The registered architectures and tasks, and which plugin registered each."""

    architectures: dict[str, Architecture] = field(default_factory=dict)
    tasks: dict[str, type[Task]] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> plugin name


_registry: Registry | None = None
_built_at = -1  # the plugin manager's generation the registry was built from


def _check_named(obj: object, what: str) -> str:
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"registered {what} {obj!r} has no name (set a class attribute name = '...')")
    if not NAME_PATTERN.match(name):
        raise PluginError(f"{what} name {name!r} must be lower-case letters, digits, '-', '_' or '.'")
    return name


def _check_config(obj: object, what: str, name: str) -> None:
    config = getattr(obj, "Config", None)
    if not (isinstance(config, type) and issubclass(config, pydantic.BaseModel)):
        raise PluginError(f"{what} {name!r}: Config must be a pydantic model (subclass nnbench.Config)")


def _check_architecture(arch: object) -> str:
    if not isinstance(arch, Architecture):
        raise PluginError(f"register_architectures got {arch!r}: expected an nnbench.Architecture instance")
    name = _check_named(arch, "architecture")
    _check_config(arch, "architecture", name)
    unknown = set(arch.modalities) - MODALITIES
    if not arch.modalities or unknown:
        raise PluginError(
            f"architecture {name!r}: modalities must be a non-empty subset of {sorted(MODALITIES)}"
        )
    if not arch.kinds or set(arch.kinds) - KINDS:
        raise PluginError(f"architecture {name!r}: kinds must be a non-empty subset of {sorted(KINDS)}")
    _check_sizes_and_space(arch, name)
    return name


def _check_sizes_and_space(arch: Architecture, name: str) -> None:
    # Checked at registration, so a bad size or search space names its plugin, not a suite.
    for size, overrides in arch.sizes.items():
        try:
            arch.Config(**overrides)
        except (pydantic.ValidationError, TypeError) as exc:
            raise PluginError(f"architecture {name!r}: size {size!r} is not a valid Config ({exc})") from None
    try:
        space.check_keys(arch.search_space, set(arch.Config.model_fields))
    except ValueError as exc:
        raise PluginError(f"architecture {name!r}: {exc}") from None
    for key, param in arch.search_space.items():
        if not space.is_param(param):
            raise PluginError(
                f"architecture {name!r}: search_space[{key!r}] must be nnbench.LogUniform, Uniform, "
                f"IntRange or Choice, got {param!r}"
            )


def _check_task(task: object) -> str:
    if not (isinstance(task, type) and issubclass(task, Task)):
        raise PluginError(f"register_tasks got {task!r}: expected a subclass of nnbench.Task")
    name = _check_named(task, "task")
    _check_config(task, "task", name)
    return name


def _build() -> Registry:
    plugins.load_plugins()
    registry = Registry()

    def run_hook(hook_name: str, kind: str, table: dict, check) -> None:
        hook = getattr(plugins.pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order: defaults, entry points, then files
            owner = impl.plugin_name
            if plugins.tracing():
                plugins.trace(hook_name, [owner])

            def register(obj, _owner=owner):
                name = check(obj)
                if name in table:
                    first = registry.owners[(kind, name)]
                    raise PluginError(f"{kind} name {name!r} is registered by both {first!r} and {_owner!r}")
                table[name] = obj
                registry.owners[(kind, name)] = _owner

            try:
                impl.function(register=register)
            except PluginError as exc:
                plugins.record_failure(owner, str(exc))
            except Exception as exc:  # a plugin's own bug is isolated to that plugin
                plugins.record_failure(owner, f"{hook_name} raised {type(exc).__name__}: {exc}")

    run_hook("register_tasks", "task", registry.tasks, _check_task)
    run_hook("register_architectures", "architecture", registry.architectures, _check_architecture)
    return registry


def get_registry() -> Registry:
    """The registry, built on first use and rebuilt whenever the set of plugins has changed since."""
    global _registry, _built_at
    plugins.load_plugins()
    if _registry is None or _built_at != plugins.generation():
        _built_at = plugins.generation()
        _registry = _build()
    return _registry


def _unknown(kind: str, name: str, known: list[str]) -> NnbenchError:
    hint = did_you_mean(name, known)
    listing = ", ".join(sorted(known)) or "none"
    # "unknown architecture 'resnet'; known: cnn, mlp" or "...; did you mean 'mlp'? Known: cnn, mlp"
    known_part = f" Known: {listing}" if hint else f"; known: {listing}"
    failed = [f.plugin for f in plugins.failures]
    also = f" (plugins that failed to load: {', '.join(failed)})" if failed else ""
    return NnbenchError(f"unknown {kind} {name!r}{hint}{known_part}{also}")


def get_architecture(name: str) -> Architecture:
    """The registered architecture called ``name``; an unknown name is an error with a did-you-mean."""
    registry = get_registry()
    if name not in registry.architectures:
        raise _unknown("architecture", name, list(registry.architectures))
    return registry.architectures[name]


def get_task(name: str) -> type[Task]:
    """The registered task class called ``name``; an unknown name is an error with a did-you-mean."""
    registry = get_registry()
    if name not in registry.tasks:
        raise _unknown("task", name, list(registry.tasks))
    return registry.tasks[name]
