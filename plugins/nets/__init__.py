"""The torch modules of the built-in architectures, one module per architecture.

Each architecture's ``build`` (and its ``train``, where it owns its loop) imports its module here, so
that declaring the architectures (name, modalities, Config, sizes, search space) never imports torch:
``nnbench list architectures`` stays fast. See docs/plugins.md, "Keep listing fast".
"""
