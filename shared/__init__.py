"""Code shared by the API and the worker: settings, models, Redis keys, database access."""

__version__ = "0.1.0"
