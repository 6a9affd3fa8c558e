"""`python -m server [flags]` is `aula serve [flags]`."""

import sys

from .cli import main

main(sys.argv[1:])
