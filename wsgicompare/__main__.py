"""``python -m wsgicompare``: the same as the ``wsgicompare`` command."""

import sys

from wsgicompare.cli import main

if __name__ == "__main__":
    sys.exit(main())
