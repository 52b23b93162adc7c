"""EMG sources: the EmgSource base, one folder per device with its emulator (myo/, cyton/), BrainFlow,
replay, synthetic and LSL sources, and factory.open_emg over them all."""
