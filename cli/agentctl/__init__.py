"""agentctl: the operator's CLI for agent-runtime."""
