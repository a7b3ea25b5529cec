from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file is missing, malformed or refers to something that does not exist.

    The message always names the file and, where it applies, the field.
    """
