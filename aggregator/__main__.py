"""``python -m aggregator`` and the ``aggregator`` console script.

The command line is imported when it runs, not when this module is: a parsing worker process
(aggregator.prepare, started with "spawn") imports the program's main module first, and the
whole command line with everything it uses took most of the second a worker needs to start.
"""


def run() -> None:
    from aggregator.cli import main

    main()


if __name__ == "__main__":
    run()
