"""How messages travel between the nodes: topic names, QoS profiles, stream health, time
synchronisation, audio windows, the bounded worker queue, the query service's own threads."""
