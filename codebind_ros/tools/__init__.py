"""Command-line tools and test scenes: the query client, the one-process graph runner, bag replay,
the simulated scene and its localisation evaluation."""
