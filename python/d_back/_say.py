"""The documented stdout lines of the server and the command line."""


def say(line: str) -> None:
    """Print one documented stdout line (flushed: stdout is often a pipe)."""
    print(line, flush=True)
