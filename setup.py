"""Packaging glue: ships the top-level ``templates/`` and ``firmware/`` folders and the demo's bundled model and
MNIST sample inside the wheel as ``qsnn_deploy.templates``, ``qsnn_deploy.firmware`` and
``qsnn_deploy.bundled`` (qsnn_deploy/paths.py finds them there, or in a checkout).

Everything else lives in pyproject.toml; only the package-dir mapping needs code.
"""

from setuptools import find_packages, setup

MAPPED = {
    "qsnn_deploy.templates": "templates",
    "qsnn_deploy.firmware": "firmware",
    "qsnn_deploy.bundled": "examples",
}
packages = find_packages(include=["qsnn_deploy", "qsnn_deploy.*"]) + list(MAPPED)
setup(
    packages=packages,
    package_dir=MAPPED,
    package_data={
        "qsnn_deploy.templates": ["**/*"],
        # Sources only: a local build/ folder of the firmware must not ship.
        "qsnn_deploy.firmware": [
            "host/*.c",
            "cortex-m/*.c",
            "cortex-m/*.ld",
            "cortex-m/Makefile",
            "cortex-m/README.md",
            "cortex-m/example/*.h",
            "qemu-plugin/*.c",
            "qemu-plugin/*.h",
            "qemu-plugin/Makefile",
        ],
        "qsnn_deploy.bundled": [
            "mnist/model.pt",
            "mnist/COMMAND.txt",
            "data/mnist_test_sample.npz",
            "data/README.md",
        ],
    },
)
