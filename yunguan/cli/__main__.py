"""`python -m yunguan.cli`."""
import sys

from yunguan.cli import main

sys.exit(main())
