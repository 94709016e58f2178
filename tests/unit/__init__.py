"""Fast tests of one module or rule each."""
