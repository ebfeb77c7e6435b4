"""The walkable street network: nodes and edges with lengths in metres."""
