"""nnbench's built-in architectures, shipped as the package ``nnbench_plugins``.

Each module is an ordinary plugin registered through the ``nnbench`` entry-point group, exactly as a
third-party package would register its own: they use only nnbench's public API.
"""
