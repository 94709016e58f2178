"""Property tests against reference libraries."""
