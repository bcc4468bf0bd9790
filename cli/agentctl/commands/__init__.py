"""agentctl's commands: one module per command (or command group); each module lists its Click commands in
COMMANDS, and agentctl.main registers them.

Every command reads the same way, in five steps, and holds nothing else:

1. parse: Click parses the options; the command turns them into the values the work needs (a bad value is a
   one-line usage error);
2. plan: a work function in agentctl.ops reads what is there and decides what would change, or refuses
   (Refused: nothing was changed);
3. confirm: a destructive change is shown and asked for (output.confirm; --yes skips the question, prod needs
   --allow-prod);
4. execute: a work function in agentctl.ops carries the plan out and verifies it;
5. render: the result as a table (default) or as JSON (--output json); progress lines go to stderr.

Decisions (which revision, which range, which items, what "healthy" means) belong to agentctl.ops, never to a
Click function; where the local stack and AWS differ, the Platform the command is handed (context.target())
decides, never the command.
"""
