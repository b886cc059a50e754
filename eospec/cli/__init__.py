"""The ``eospec`` command-line interface (click)."""
