"""Pure domain logic: event contracts and their parsing, the scan model, the suggestion rule. No I/O."""
