"""End-to-end tests: the CLI, generated code compiled and run, toolchains."""
