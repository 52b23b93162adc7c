"""Live prediction: EMG chunks in, the current hand pose or gesture out, at display rate."""
