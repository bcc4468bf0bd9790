"""Orbit: the gateway. Verify the client, ask Governance, and only on an allow call Axon."""
