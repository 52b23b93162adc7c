"""Thalmic Myo: the BLED112 driver and its BGAPI codec, the computer's own Bluetooth (ble), the GATT
facts both share, and the firmware emulator."""
