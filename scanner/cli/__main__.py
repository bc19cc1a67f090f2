"""``python -m scanner.cli``: the same as the ``residual`` script."""

from scanner.cli import main

main()
