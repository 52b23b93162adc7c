"""OpenBCI Cyton: the driver and its firmware emulator."""
