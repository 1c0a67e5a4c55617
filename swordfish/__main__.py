"""``python -m swordfish``: see ``swordfish.cli``."""

from .cli import run

if __name__ == "__main__":
    run()
