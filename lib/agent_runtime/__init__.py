"""Code shared by Orbit, Axon, the governance Lambda and agentctl."""

__version__ = "1.0.0"
