"""The plugin manager: default plugins, entry points and loose plugin files, each loaded in isolation.

One broken plugin never breaks the others: it is recorded in :data:`failures` with its error and its
trials are skipped with that reason. ``NNBENCH_STRICT_PLUGINS=1`` turns any failure into an error;
``NNBENCH_TRACE_PLUGINS=1`` traces every hook call to stderr.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pluggy

from nnbench import hookspecs
from nnbench.errors import PluginError
from nnbench.tasks import TASK_MODULES

ENTRY_POINT_GROUP = "nnbench"

# Core plugins that always load: the built-in tasks (a plugin per module) and the replaceable default hooks.
DEFAULT_PLUGINS = (*TASK_MODULES, "nnbench.default_hooks")


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that did not load, or registered something invalid, and why."""

    plugin: str
    error: str


pm = pluggy.PluginManager("nnbench")
pm.add_hookspecs(hookspecs)
failures: list[PluginFailure] = []
_loaded = False
_loaded_files: set[str] = set()
# Bumped whenever the set of registered plugins changes: the registry rebuilds itself when it moves,
# so nothing here has to call into the registry.
_generation = 0


def generation() -> int:
    """A counter that changes whenever a plugin is registered or unregistered (or all are reset)."""
    return _generation


def _changed() -> None:
    global _generation
    _generation += 1


def register(plugin: object, name: str) -> None:
    """Register ``plugin`` under ``name`` (no checks: for nnbench's own plugins and the testing kit)."""
    pm.register(plugin, name=name)
    _changed()


def unregister(name: str) -> None:
    """Unregister the plugin called ``name``."""
    pm.unregister(name=name)
    _changed()


def strict() -> bool:
    """Whether plugin failures are fatal (``NNBENCH_STRICT_PLUGINS=1``)."""
    return os.environ.get("NNBENCH_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def record_failure(plugin: str, error: str) -> None:
    """Remember that ``plugin`` failed; raise at once in strict mode."""
    if strict():
        raise PluginError(f"plugin {plugin!r} failed: {error} (NNBENCH_STRICT_PLUGINS is set)")
    if not any(f.plugin == plugin and f.error == error for f in failures):
        failures.append(PluginFailure(plugin, error))


def _register_checked(module: ModuleType, name: str) -> bool:
    """Register ``module`` under ``name``; on a bad or misspelled hook, unregister it and record why."""
    try:
        pm.register(module, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        record_failure(name, str(exc))
        return False
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        record_failure(name, f"{exc} (no such hook: check its spelling against docs/hooks.md)")
        return False
    _changed()
    return True


def tracing() -> bool:
    """Whether hook calls are traced (``NNBENCH_TRACE_PLUGINS=1``)."""
    return os.environ.get("NNBENCH_TRACE_PLUGINS", "") not in ("", "0")


def trace(hook_name: str, plugin_names: list[str]) -> None:
    """Print one traced hook call to stderr."""
    print(f"[nnbench trace] {hook_name} -> {', '.join(plugin_names)}", file=sys.stderr)


def _enable_tracing() -> None:
    def before(hook_name, hook_impls, kwargs):
        trace(hook_name, [impl.plugin_name for impl in hook_impls])

    def after(outcome, hook_name, hook_impls, kwargs):
        pass

    pm.add_hookcall_monitoring(before, after)


def load_plugins() -> None:
    """Load the default plugins and every installed entry point, once. Idempotent."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    if tracing():
        _enable_tracing()
    for module_name in DEFAULT_PLUGINS:
        # Core plugins are part of nnbench itself: if they fail, that is a bug, so let it raise.
        register(importlib.import_module(module_name), module_name)
    for entry_point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        plugin_name = f"{entry_point.name} ({entry_point.value})"
        if pm.get_plugin(plugin_name) is not None:
            continue
        try:
            module = entry_point.load()
        except Exception as exc:  # any import error of a third-party plugin is isolated
            record_failure(plugin_name, f"failed to import: {type(exc).__name__}: {exc}")
            continue
        _register_checked(module, plugin_name)


def load_plugin_file(path: str | Path) -> str | None:
    """Load a loose plugin file; return its plugin name, or None if it failed (recorded in failures)."""
    load_plugins()
    resolved = str(Path(path).expanduser().resolve())
    plugin_name = f"file:{resolved}"
    if resolved in _loaded_files:
        return plugin_name
    _loaded_files.add(resolved)
    if not Path(resolved).is_file():
        record_failure(plugin_name, "no such file")
        return None
    module_name = file_module_name(resolved)
    try:
        spec = importlib.util.spec_from_file_location(module_name, resolved)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # Registered in sys.modules so pickling and dataclasses inside the file work.
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        record_failure(plugin_name, f"failed to import: {type(exc).__name__}: {exc}")
        return None
    if not _register_checked(module, plugin_name):
        return None
    return plugin_name


def load_plugin_files(paths) -> None:
    """Load every loose plugin file of ``paths`` (a suite's ``plugin_files``); failures are recorded."""
    for path in paths:
        load_plugin_file(path)


def file_module_name(path: str | Path) -> str:
    """The module name a loose plugin file is loaded under: from its full path, so that two files with
    the same name in two folders (``a/models.py``, ``b/models.py``) are two modules."""
    resolved = str(Path(path).expanduser().resolve())
    stem = "".join(c if c.isalnum() or c == "_" else "_" for c in Path(resolved).stem)
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    return f"nnbench_file_plugin_{stem}_{digest}"


def plugin_listing() -> list[dict[str, object]]:
    """Every plugin with its hooks, and every failed plugin with its error."""
    load_plugins()
    rows: list[dict[str, object]] = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        version = getattr(plugin, "__version__", None)
        rows.append({"name": name, "hooks": hooks, "version": version, "error": None})
    rows.extend({"name": f.plugin, "hooks": [], "version": None, "error": f.error} for f in failures)
    return rows


def reset() -> None:
    """Forget every loaded plugin and failure (for tests and long-lived processes)."""
    global pm, _loaded
    pm = pluggy.PluginManager("nnbench")
    pm.add_hookspecs(hookspecs)
    failures.clear()
    _loaded_files.clear()
    _loaded = False
    _changed()
