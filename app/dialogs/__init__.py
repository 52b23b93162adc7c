"""Dialogs that run one engine job in a worker: import, export, and their common base."""
