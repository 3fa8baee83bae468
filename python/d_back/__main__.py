"""`python -m d_back`: run the server from the command line (see `d_back --help`)."""

from .server import main_sync

if __name__ == "__main__":
    main_sync()
