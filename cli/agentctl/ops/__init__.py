"""The work behind agentctl's commands: plain functions, no Click, testable without a terminal.

They are handed a Platform (agentctl.ops.platform) and never ask which one it is; they never import
agentctl.local (the local stack implements the Platform) and never read or write the environment.
"""
