"""The MCP server: ``build_server()`` assembles the tools over an ``ImageService`` held by the lifespan."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, InputRequiredResult
from mcp_types import Resource as MCPResource
from mcp_types import ResourceTemplate as MCPResourceTemplate
from pydantic import AnyUrl, ValidationError

from core.errors import ConfigurationError, FailureKind, SeedreamError
from core.http import HttpClient
from core.references import ReferencePolicy
from core.service import ImageService
from core.settings import Settings
from mcp_server import resources
from mcp_server.app.extension import AppsOnlyForAppsClients, app_tool_names, gallery_apps
from mcp_server.content import error_result
from mcp_server.paths import allowed_roots
from mcp_server.settings import McpSettings
from mcp_server.state import AppState, Opening
from mcp_server.tasks import TasksExtension
from mcp_server.tools import TOOLS

log = logging.getLogger(__name__)

SERVER_NAME = "seedream"
INSTRUCTIONS = (
    "ByteDance Seedream image generation. Images are saved full size on the server's disk; results name "
    "each file by absolute path, include downscaled previews and link each image as a seedream:// resource. "
    "A result with pending=true is still running: call get_job with its job_id."
)


class SeedreamServer(MCPServer[AppState]):
    """``MCPServer`` whose tool errors are always clear ``isError`` results, never exception text, and whose
    jobs' images are resources (``mcp_server.resources``).

    ``unavailable`` holds the start-up problem (e.g. a job database that is not ours) that keeps it from
    generating: it still starts and lists its tools, so the client shows that reason on every call instead of
    "server disconnected".
    """

    unavailable: str | None = None
    #: The running server's state, set by the lifespan: ``resources/list`` is handled without a context.
    state: AppState | None = None
    #: The state being opened in the background (set by the lifespan).
    opening: Opening | None = None

    async def _opened(self) -> None:
        """Wait until the state is open (or known to be unavailable): requests that need it come here first."""
        if self.opening is not None:
            await self.opening.ready()

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        await self._opened()
        if self.unavailable is not None and self._tool_manager.get_tool(name) is not None:
            return error_result(self.unavailable, kind=FailureKind.CONFIGURATION)
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            log.exception("tool %s failed unexpectedly", name)
            return error_result(f"The {name} tool failed unexpectedly.", kind="internal")
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                return error_result(invalid_arguments_message(exc.__cause__), kind="invalid_request")
            return error_result(str(exc), kind="invalid_request")  # the SDK's own words, e.g. "Unknown tool"

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[AppState, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        # Ours are read here rather than through SDK templates: a template has one MIME type, an image its own.
        if resources.is_ours(str(uri)) and context is not None:
            await self._opened()
            if self.unavailable is not None:
                raise ResourceError(self.unavailable)
            return [await resources.read(AppState.of(context), str(uri))]
        return await super().read_resource(uri, context)

    async def list_resources(self) -> list[MCPResource]:
        await self._opened()
        listed = await super().list_resources()
        return listed + (await resources.listed(self.state) if self.state else [])

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        return await super().list_resource_templates() + resources.TEMPLATES


def build_server(
    *,
    settings: Settings | None = None,
    mcp_settings: McpSettings | None = None,
    http: HttpClient | None = None,
    service: ImageService | None = None,
) -> SeedreamServer:
    """The server. Its lifespan opens an ``ImageService`` from ``settings`` (on ``http`` if given, e.g. a
    sandbox the caller controls), or uses ``service`` as it is (the caller owns and closes it; no per-user
    quotas then: they need the counters the lifespan opens). When the
    service cannot be opened (a ``ConfigurationError`` such as a foreign job database), the server still
    serves, and every tool call answers with that problem.

    Raises:
        ValueError: neither ``settings`` nor ``service`` was given.
    """
    if settings is None and service is None:
        raise ValueError("build_server needs settings or a service")
    mcp_settings = mcp_settings or McpSettings(_env_file=None)

    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[Opening]:
        assert isinstance(server, SeedreamServer)
        opening = server.opening = Opening()
        stopping = asyncio.Event()
        keeper = asyncio.create_task(_keep_open(server, opening, stopping), name="seedream-mcp-state")
        try:
            yield opening
        finally:
            stopping.set()
            await keeper
            server.state = None

    async def _keep_open(server: SeedreamServer, opening: Opening, stopping: asyncio.Event) -> None:
        """Open the state, hand it to ``opening``, and hold it until the server stops."""
        try:
            async with _state(server) as state:
                server.state = state
                opening.opened(state)
                await stopping.wait()
        except Exception as exc:  # e.g. the job database's server does not answer at start
            message = exc.message if isinstance(exc, SeedreamError) else f"The server could not start: {exc!r}."
            log.error("cannot generate: %s", message, exc_info=not isinstance(exc, SeedreamError))
            server.unavailable = server.unavailable or message
        finally:
            opening.opened(opening.value)  # never leave a request waiting

    @asynccontextmanager
    async def _state(server: SeedreamServer) -> AsyncIterator[AppState | None]:
        if service is not None:
            roots = allowed_roots(mcp_settings.allowed_dirs, output_dir=service.settings.images_dir)
            yield AppState(service=service, settings=mcp_settings, readable_roots=_readable(service, roots))
            return
        assert settings is not None
        roots = allowed_roots(mcp_settings.allowed_dirs, output_dir=settings.images_dir)
        policy = ReferencePolicy(allowed_roots=roots)
        # The job store's libraries take a while to load: in a worker thread, while the server already answers.
        factory = await asyncio.to_thread(importlib.import_module, "core.factory")
        async with AsyncExitStack() as stack:
            try:
                backends = await stack.enter_async_context(factory.open_backends(settings, http=http))
                opened = await stack.enter_async_context(
                    factory.running_service(backends, reference_policy=policy))
            except ConfigurationError as exc:
                log.debug("cannot generate: %s", exc.message)  # the entry point has said it on stderr
                server.unavailable = exc.message
                yield None
                return
            yield AppState(service=opened, settings=mcp_settings, readable_roots=_readable(opened, roots),
                           counters=backends.counters)

    wait = f"~{mcp_settings.wait_seconds:g} s"
    tools = [
        compact(
            Tool.from_function(
                fn, description=_one_line(fn.__doc__).replace("~45 s", wait), annotations=annotations
            )
        )
        for fn, annotations in TOOLS
    ]
    return SeedreamServer(
        SERVER_NAME,
        instructions=INSTRUCTIONS,
        tools=tools,
        lifespan=lifespan,
        version=_version(),
        warn_on_duplicate_tools=False,
        extensions=[TasksExtension(), gallery_apps()],  # gallery_apps: the in-chat gallery (MCP Apps clients)
        middleware=[AppsOnlyForAppsClients(app_tool_names())],
    )


def compact(tool: Tool) -> Tool:
    """Shrink the schemas pydantic derives (they are sent to the model in every conversation): no titles,
    optional inputs simply not required (null is still accepted), nullable outputs as ``type: [t, "null"]``.
    """
    tool.parameters = _compact_schema(tool.parameters, output=False)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = _compact_schema(tool.fn_metadata.output_schema, output=True)
    return tool


def invalid_arguments_message(error: ValidationError) -> str:
    """What was wrong with the arguments, per field, in words a model can act on."""
    parts = []
    for item in error.errors(include_url=False):
        field = ".".join(str(p) for p in item["loc"]) or "arguments"
        if item["type"] == "missing":
            parts.append(f"{field} is required")
        else:
            value = repr(item.get("input"))
            value = value if len(value) <= 60 else value[:59] + "…"
            parts.append(f"{field}={value}: {item['msg'].removeprefix('Value error, ')}")
    return "Invalid arguments: " + "; ".join(parts) + "."


def _compact_schema(schema: Any, *, output: bool) -> Any:
    if isinstance(schema, list):
        return [_compact_schema(item, output=output) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" or (key == "default" and (output or value is None)):
            continue
        if key == "properties":
            result[key] = {name: _compact_schema(prop, output=output) for name, prop in value.items()}
        else:
            result[key] = _compact_schema(value, output=output)
    return _drop_null_branch(result, output=output)


def _drop_null_branch(schema: dict[str, Any], *, output: bool) -> dict[str, Any]:
    """``anyOf: [X, {type: null}]`` → X (inputs) or X with a nullable type (outputs, where X has a type)."""
    branches = schema.get("anyOf")
    if not (isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches):
        return schema
    (other,) = [b for b in branches if b != {"type": "null"}]
    if output and not isinstance(other.get("type"), str):
        return schema
    merged = {k: v for k, v in schema.items() if k != "anyOf"} | other
    if output:
        merged["type"] = [other["type"], "null"]
    return merged


def _one_line(doc: str | None) -> str:
    return " ".join((doc or "").split())


def _readable(service: ImageService, roots: tuple[Any, ...]) -> tuple[Any, ...]:
    """Previews are made only of files in the output folder or the allowed roots."""
    return tuple(dict.fromkeys((service.settings.images_dir.resolve(), *roots)))


def _version() -> str:
    from core.about import version

    return version()
