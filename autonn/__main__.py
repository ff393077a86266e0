"""``python -m autonn`` runs the command line."""

from autonn.cli import run

run()
