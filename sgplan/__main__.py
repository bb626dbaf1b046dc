"""`python -m sgplan` runs the CLI."""

from sgplan.cli import main

if __name__ == "__main__":
    main()
