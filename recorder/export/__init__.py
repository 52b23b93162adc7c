"""Exports of session files: training arrays, the seed project's CSV, MP4 video, EMG-BIDS."""
