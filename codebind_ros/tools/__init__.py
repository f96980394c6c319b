"""Command-line tools: the query client, the one-process graph runner and the localisation
evaluation on the simulated scene."""
