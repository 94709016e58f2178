"""The command layer: what each ``qsnn-deploy`` command does between parsing and the library.

``cli.py`` declares the commands and their options (click); each calls one ``*_from_cli`` function here, which
refuses bad combinations, reads the inputs, calls the library (export, sim, targets, interop, train) and
prints. Nothing below this package imports click or prints a command's summary; the layer order is in
docs/architecture.md and tests/unit/test_layers.py keeps it.
"""
