"""Models: architectures, training and calibration, batched inference, metrics and baselines, the model
folder (save, load, evaluate), ONNX export."""
