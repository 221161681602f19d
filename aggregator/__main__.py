from aggregator.cli import main

# Guarded: worker processes (aggregator.prepare) start by importing the main module.
if __name__ == "__main__":
    main()
