"""The Capture tab: sources, live view, recording, labelling hotkeys, the prompted protocol."""
