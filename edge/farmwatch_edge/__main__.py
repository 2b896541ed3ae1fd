"""``python -m farmwatch_edge``: the same as the ``farmwatch-edge`` command."""

from farmwatch_edge.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
