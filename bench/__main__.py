"""`python -m bench`: the throughput bench (`bench.throughput`); `make bench` runs them all."""

from bench.throughput import main

if __name__ == "__main__":
    main()
