"""``python -m stonerimg``: the ``stonerimg`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
