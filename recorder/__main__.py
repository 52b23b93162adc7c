"""``python -m recorder`` runs the ``emgrec`` command line."""

if __name__ == "__main__":
    import sys

    from .cli import main

    sys.exit(main())
