"""Prompts from outside the tracker.

The prompts file and the CLI (``parse``), clicks from a window or page (``inbox``), and
words resolved by CLIP (``text``).
"""
