"""The hostile-input tests' service with small limits (tests/app/test_hostile_input.py and test_hostile_archives.py)."""

from tests.support.hostile import data_dir, limited, limited_env

__all__ = ["data_dir", "limited", "limited_env"]
