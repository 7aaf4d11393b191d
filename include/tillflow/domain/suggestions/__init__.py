"""The suggestion rule and the messages it reads and writes (pure)."""
