"""Packaging glue: ships the top-level ``templates/`` folder inside the wheel as ``qsnn_deploy.templates``.

Everything else lives in pyproject.toml; only the package-dir mapping needs code.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["qsnn_deploy", "qsnn_deploy.*"]) + ["qsnn_deploy.templates"]
setup(
    packages=packages,
    package_dir={"qsnn_deploy.templates": "templates"},
    package_data={"qsnn_deploy.templates": ["**/*"]},
)
