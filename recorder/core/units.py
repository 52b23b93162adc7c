"""Small formatting helpers shared by the CLI and the GUI."""


def human_size(n: float) -> str:
    """Bytes as a short SI string: 512 B, 1.5 kB, 20.3 MB, 1.2 GB."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"
