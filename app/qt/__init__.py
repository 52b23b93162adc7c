"""Qt plumbing: the capture signal bridge, worker threads, persistent settings, and the system-library
check run before Qt starts."""
