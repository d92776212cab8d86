/**
 * A minimal MCP Apps host for the browser tests, built on the official AppBridge. It does what a chat client
 * does for a tool call whose tool has `_meta.ui.resourceUri`: reads the ui:// resource, renders it in a
 * sandboxed iframe (the spec's restrictive CSP, no network), sends the call's arguments and later its result,
 * and relays the gallery's tools/call and resources/read to the MCP server. The server is a real seedream-mcp
 * behind the test's relay (POST /rpc/<method>); the "model's" call is POST /rpc/model-call.
 */
import {
  AppBridge,
  getToolUiResourceUri,
  PostMessageTransport,
  RESOURCE_MIME_TYPE,
} from "@modelcontextprotocol/ext-apps/app-bridge";

/** The CSP a host applies when the resource declares no domains (ext-apps spec, "Restrictive Default"). */
const RESTRICTIVE_CSP =
  "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; media-src 'self' data:; connect-src 'none'; frame-src 'none'; object-src 'none'; " +
  "base-uri 'self'";

interface HostState {
  resultDelivered: boolean;
  downloads: Array<{ name: string; bytes: number }>;
  logs: string[];
}

const state: HostState = { resultDelivered: false, downloads: [], logs: [] };

async function rpc(method: string, params: unknown): Promise<any> {
  const response = await fetch(`/rpc/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params ?? {}),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ?? `${method} failed (${response.status})`);
  return body;
}

function withCsp(html: string): string {
  const meta = `<meta http-equiv="Content-Security-Policy" content="${RESTRICTIVE_CSP}">`;
  return html.replace(/<head>/i, (head) => `${head}${meta}`);
}

async function download(contents: Array<{ type: string; uri?: string; name?: string }>): Promise<void> {
  for (const item of contents) {
    if (item.type !== "resource_link" || !item.uri) throw new Error("only resource links are supported");
    const read = await rpc("resources/read", { uri: item.uri });
    const blob = read.contents[0].blob as string;
    const bytes = Uint8Array.from(atob(blob), (c) => c.charCodeAt(0));
    const anchor = document.createElement("a");
    anchor.href = URL.createObjectURL(new Blob([bytes], { type: read.contents[0].mimeType }));
    anchor.download = item.name ?? "image";
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    state.downloads.push({ name: anchor.download, bytes: bytes.length });
  }
}

/** Calls `name` as the model would and shows its result in the tool's UI. Resolves once the View is ready. */
async function render(name: string, args: Record<string, unknown>): Promise<void> {
  const { tools } = await rpc("tools/list", {});
  const tool = tools.find((candidate: { name: string }) => candidate.name === name);
  const uri = tool && getToolUiResourceUri(tool);
  if (!uri) throw new Error(`${name} has no UI resource`);
  const resource = (await rpc("resources/read", { uri })).contents[0];
  if (resource.mimeType !== RESOURCE_MIME_TYPE) throw new Error(`unexpected MIME type ${resource.mimeType}`);

  const call = await rpc("model-call", { name, arguments: args }); // sent: its JSON-RPC id is known
  const theme = new URLSearchParams(location.search).get("theme") === "dark" ? "dark" : "light";
  document.documentElement.dataset.theme = theme;
  const iframe = document.createElement("iframe");
  iframe.title = "Seedream gallery";
  iframe.setAttribute("sandbox", "allow-scripts");
  document.getElementById("chat")!.append(iframe);

  const bridge = new AppBridge(
    null,
    { name: "seedream-test-host", version: "1.0.0" },
    { serverTools: {}, serverResources: {}, downloadFile: {}, logging: {} },
    {
      hostContext: {
        theme,
        platform: "web",
        displayMode: "inline",
        availableDisplayModes: ["inline"],
        containerDimensions: { width: 760, maxHeight: 6000 },
        toolInfo: { id: call.request_id, tool },
      },
    },
  );
  bridge.oncalltool = (params) => rpc("tools/call", params);
  bridge.onreadresource = (params) => rpc("resources/read", params);
  bridge.ondownloadfile = async ({ contents }) => {
    await download(contents as Array<{ type: string; uri?: string; name?: string }>);
    return {};
  };
  bridge.onsizechange = ({ height }) => {
    if (height) iframe.style.height = `${height}px`;
  };
  bridge.onloggingmessage = (message) => {
    state.logs.push(JSON.stringify(message));
  };
  const initialized = new Promise<void>((resolve) => {
    bridge.oninitialized = () => resolve();
  });
  await bridge.connect(new PostMessageTransport(iframe.contentWindow!, iframe.contentWindow!));
  iframe.srcdoc = withCsp(resource.text as string); // after connecting: the View's first message is heard
  await initialized;
  await bridge.sendToolInput({ arguments: args });
  void rpc(`model-call/${call.call_id}`, {}).then(async (result) => {
    await bridge.sendToolResult(result);
    state.resultDelivered = true;
  });
}

Object.assign(window, { seedreamHost: { render, state } });
