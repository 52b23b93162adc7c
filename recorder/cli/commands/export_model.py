"""emgrec export-model: a model folder as a standalone TorchScript / torch.export / ONNX file."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("export-model", help="export a model folder for use without emgrec",
                       description="Export a model (normalisation included: raw EMG (B, T, C) in, mm or "
                                   "probabilities out) plus a sidecar FILE.json describing its input and output.")
    p.add_argument("model", type=Path, help="model folder")
    p.add_argument("--format", default="torchscript", choices=["torchscript", "pt2", "onnx"],
                   help="torchscript (torch.jit.load), pt2 (torch.export.load), onnx (extra [onnx]: onnx, onnxruntime)")
    p.add_argument("--out", type=Path, required=True, help="output file")
    p.set_defaults(func=run)


def run(args) -> int:
    import warnings

    import torch

    from recorder.model.folder import export_model
    with warnings.catch_warnings():
        # TracerWarning: Python-side checks are frozen into the trace for the example's shape; the
        # sidecar states the (batch, T, C) input the file takes. Shown with -v.
        if not getattr(args, "verbose", False):
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        f, side = export_model(args.model, args.format, args.out)
    print(f"{f} ({args.format}); input/output described in {side}")
    return 0
