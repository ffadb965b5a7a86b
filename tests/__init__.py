"""The test suite (shared fixtures in conftest.py)."""
