"""``python -m nnbench`` is the ``nnbench`` command."""

from nnbench.cli import main

if __name__ == "__main__":
    main()
