"""Developer and deployment tooling: the local stack launcher, demo data and token helpers."""
