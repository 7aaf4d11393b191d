"""Entry points: the `tillflow` command, its sub-commands and the demo."""
