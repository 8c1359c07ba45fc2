"""``python -m credence.cli``: the same as the ``credence`` command."""

from credence.cli.main import main

main()
