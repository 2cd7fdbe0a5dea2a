"""hf-trainer: fine-tune language models from a coding agent.

The package is the library behind the MCP server (`hf-trainer mcp`) and the CLI (`hf-trainer ...`). Importing it stays
cheap: nothing here pulls in torch, transformers or datasets; modules that need them import them inside functions.
"""

__version__ = "0.1.0"
