"""Axon: the reasoning service. It acts only on requests signed by Orbit and carrying Governance's receipt."""
