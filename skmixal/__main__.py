"""``python -m skmixal``: the same as the ``skmixal`` command."""

import sys

from skmixal.cli import main

if __name__ == "__main__":
    sys.exit(main())
