"""The test suite as a package: shared helpers are imported as ``tests.<module>`` (no sys.path edits), and
test modules with the same basename in different folders do not clash."""
