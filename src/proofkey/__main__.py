"""``python -m proofkey`` runs the CLI."""

from proofkey.cli import main

main()
