"""The Train tab: training runs and their plots, and the live model preview."""
