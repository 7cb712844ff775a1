"""The benchmark suite behind `make bench`: floors, load, and the generated docs/benchmarks.md.

Every figure is measured next to a floor taken in the same run on the same machine, so the page
states how close the service comes to what PostgreSQL, aiohttp and Redis allow on their own.
"""
