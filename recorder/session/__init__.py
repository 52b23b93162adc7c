"""Session files: the HDF5 format (format), one writer per file (writelock), label editing
(annotations) and a folder of sessions (library)."""
