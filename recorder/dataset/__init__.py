"""Datasets: session files -> training windows (N, T, C) with pose (N, 63) mm or gesture labels; joint
angles, label cleaning, EMG-to-video lag."""
