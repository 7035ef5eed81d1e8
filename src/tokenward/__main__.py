"""``python -m tokenward``: the command line."""

from tokenward.cli.main import main

main()
