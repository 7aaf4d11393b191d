"""Benchmarks and drills (`tillflow bench`, `tillflow drill`). Shipped code never imports this package."""
