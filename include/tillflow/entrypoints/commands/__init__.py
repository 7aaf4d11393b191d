"""The sub-commands each area adds to `tillflow` (each module has `register(subparsers)`)."""
