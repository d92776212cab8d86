"""The baseline for the start-up scenario: the smallest useful ``MCPServer`` (one tool) over stdio."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("minimal")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    server.run("stdio")
