import sys

from ckpt_lint.cli import main

sys.exit(main())
