"""Repo-root conftest: loads the grading plugin so `--target` and `--device` parse early.

pytest's pre-parse drops `--target solutions` (space form) when the option is defined in
tests/conftest.py, so the options live in the plugin loaded from here.
"""

pytest_plugins = ["kata.plugin"]
