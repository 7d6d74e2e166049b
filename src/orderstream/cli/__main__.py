"""``python -m orderstream.cli``."""

from orderstream.cli.main import main

main()
