"""aggregator: regulatory-enforcement news, fetched, cleaned, stored and searchable."""

import logging

__version__ = "0.1.0"

logging.getLogger("aggregator").addHandler(logging.NullHandler())

__all__ = ["__version__"]
