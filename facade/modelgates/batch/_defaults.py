"""The batch's defaults, shared by the runner and the command line's help."""

DEFAULT_MAX_JOBS = 8
DEFAULT_MAX_DOWNLOADS = 4
DEFAULT_POLL_INTERVAL = 10.0
