"""modelgates: the Python client for the ModelGates video generation API."""

__version__ = "0.1.0"
