"""The one exception type users see: a message that names the place and what was expected."""

from __future__ import annotations

# A suite with more errors than this shows the first ones and how many more there are.
MAX_ERRORS_SHOWN = 20


class NnbenchError(Exception):
    """A user-facing error. The CLI prints each line of its message as one ``error:`` line and exits non-zero."""


class ConfigError(NnbenchError):
    """A suite, a config key or a value is wrong; each message names the file, line and key.

    ``ConfigError(*errors)`` holds every error found (``errors``); its text is one line per error, the
    first :data:`MAX_ERRORS_SHOWN` of them, then how many more there are.
    """

    def __init__(self, *errors: str):
        self.errors = list(errors)
        shown = self.errors[:MAX_ERRORS_SHOWN]
        more = len(self.errors) - len(shown)
        if more:
            shown.append(f"... and {more} more error{'s' if more > 1 else ''}")
        super().__init__("\n".join(shown))


class PluginError(NnbenchError):
    """A plugin failed to load or registered something invalid; the message names the plugin."""


class DataError(NnbenchError):
    """A dataset file is missing or malformed; the message names the file and what was expected."""


class StoreError(NnbenchError):
    """The results store cannot be opened or is not an nnbench store."""
