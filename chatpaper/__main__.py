"""``python -m chatpaper``: see chatpaper.cli."""
import sys

from chatpaper.cli import main

sys.exit(main())
