"""The config tests' fixtures, shared: the cache and loader tests read whole configuration
directories, and every parse keeps its cache key out of the real home directory."""

from tests.config.conftest import config_dir, private_user_cache

__all__ = ["config_dir", "private_user_cache"]
