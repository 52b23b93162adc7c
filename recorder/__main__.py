"""``python -m recorder`` runs the ``emgrec`` command line."""

if __name__ == "__main__":
    import sys

    from recorder.cli.emgrec import main

    sys.exit(main())
