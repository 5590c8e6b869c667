"""A plugin file that fails to import: nnbench must report it and go on."""

import this_module_does_not_exist  # noqa: F401
