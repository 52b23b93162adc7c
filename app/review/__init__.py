"""The Review and Library tabs: scrub and relabel a stored session on its timeline; the session
library."""
