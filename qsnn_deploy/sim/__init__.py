"""The bit-accurate integer simulator: the oracle every executor is checked against."""

from qsnn_deploy.sim.executor import SimResult, check_no_overflow, simulate

__all__ = ["SimResult", "check_no_overflow", "simulate"]
