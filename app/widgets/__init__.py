"""Widgets shared by the tabs: live EMG plot, camera view, hand skeleton drawing, message banner colours."""
