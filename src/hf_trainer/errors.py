"""The one error type users see.

Library functions raise `UserError` with text that states the fact, quotes the bad value and names the next action.
The MCP server turns it into a ToolError and the CLI prints it and exits 2, so no traceback ever reaches a person.
"""


class UserError(Exception):
    """A failure the caller can fix; its message is shown as it is."""
