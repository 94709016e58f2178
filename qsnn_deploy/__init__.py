"""qsnn-deploy: quantized spiking neural networks from training to microcontrollers and FPGAs, bit for bit."""

__version__ = "0.1.0"
