"""Loading the demo community from ``fixtures/demo``."""
