"""The one exception type users see: a message that names the place and what was expected."""

from __future__ import annotations


class NnbenchError(Exception):
    """A user-facing error. The CLI prints its message as one line and exits non-zero."""


class ConfigError(NnbenchError):
    """A suite, a config key or a value is wrong; the message names the file, line and key."""


class PluginError(NnbenchError):
    """A plugin failed to load or registered something invalid; the message names the plugin."""


class DataError(NnbenchError):
    """A dataset file is missing or malformed; the message names the file and what was expected."""


class StoreError(NnbenchError):
    """The results store cannot be opened or is not an nnbench store."""
