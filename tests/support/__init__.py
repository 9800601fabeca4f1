"""Helpers the tests start as real components (servers run in their own processes)."""
