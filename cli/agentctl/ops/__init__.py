"""The work behind agentctl's commands: plain functions, no Click, testable without a terminal."""
