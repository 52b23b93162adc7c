"""Shared pytest-qt fixtures for the GUI tests."""
from __future__ import annotations

import threading

import pytest


def live_threads() -> set[threading.Thread]:
    # QThreadPool threads that ran Python code appear as _DummyThread; they belong to Qt's pool.
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}


@pytest.fixture
def no_thread_leaks():
    """Fails the test if a Python thread started during it is still alive at teardown. Fixtures
    that own windows depend on this one, so they close theirs first."""
    before = live_threads()
    yield
    leftover = {t for t in live_threads() - before if t.is_alive()}
    assert not leftover, f"threads left running: {[t.name for t in leftover]}"
