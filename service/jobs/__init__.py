"""Periodic work: the in-service loop that runs each domain's own tick (deadlines, service circles,
community life). It sits above the domains so none of them imports another to be run."""
