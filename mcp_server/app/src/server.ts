/**
 * The Seedream MCP server as the gallery reaches it: every call goes through the host (tools/call and
 * resources/read over postMessage); the gallery itself has no network access.
 */
import type { App } from "@modelcontextprotocol/ext-apps";
import type { CallToolResult } from "@modelcontextprotocol/client";
import type { ImageView, JobView, ToolCall } from "./types";

/** The `_meta` key of a tools/call whose job the gallery wants to follow before the call returns. */
export const TICKET_META_KEY = "seedream/ticket";

/** Generation calls may outlast the SDK's 60 s default; the server answers (pending) within ~45 s anyway. */
const GENERATE_TIMEOUT_MS = 5 * 60_000;
/** job_status waits up to ~25 s for a change before it answers. */
const STATUS_TIMEOUT_MS = 60_000;

export interface LoadedImage {
  dataUrl: string;
  mimeType: string;
  bytes: number;
}

export class ServerError extends Error {}

export class Server {
  private readonly images = new Map<string, Promise<LoadedImage>>();

  constructor(private readonly app: App) {}

  /** The job's state; with `version`, waits (server side) until it is newer than that. */
  async jobStatus(target: { job_id?: string; ticket?: string }, version = -1): Promise<JobView | null> {
    const result = await this.app.callServerTool(
      { name: "job_status", arguments: { ...target, version } },
      { timeout: STATUS_TIMEOUT_MS },
    );
    if (result.isError) throw new ServerError(textOf(result));
    const view = result.structuredContent as unknown as JobView | undefined;
    return view?.job_id ? view : null;
  }

  async cancel(jobId: string): Promise<void> {
    const result = await this.app.callServerTool({ name: "cancel_job", arguments: { job_id: jobId } });
    if (result.isError) throw new ServerError(textOf(result));
  }

  /** Runs generate_image / edit_image tagged with `ticket`, so job_status can find the job while it runs. */
  async generate(call: ToolCall, ticket: string): Promise<CallToolResult> {
    return this.app.callServerTool(
      { name: call.name, arguments: call.arguments, _meta: { [TICKET_META_KEY]: ticket } },
      { timeout: GENERATE_TIMEOUT_MS },
    );
  }

  /** An image resource as a data: URL (the host's default CSP allows data: images, not blob:). Cached. */
  readImage(uri: string): Promise<LoadedImage> {
    let pending = this.images.get(uri);
    if (!pending) {
      pending = this.read(uri);
      pending.catch(() => this.images.delete(uri));
      this.images.set(uri, pending);
    }
    return pending;
  }

  /** Asks the host to save the original file (the host reads the resource itself). */
  async download(image: ImageView): Promise<void> {
    if (this.app.getHostCapabilities()?.downloadFile) {
      const link = { type: "resource_link" as const, uri: image.uri, name: image.name, mimeType: image.mime_type };
      const result = await this.app.downloadFile({ contents: [link] });
      if (result.isError) throw new ServerError("The host did not save the file.");
      return;
    }
    // Hosts without ui/download-file: a download link, which works where the sandbox allows downloads.
    const { dataUrl } = await this.readImage(image.uri);
    const anchor = document.createElement("a");
    anchor.href = dataUrl;
    anchor.download = image.name;
    anchor.click();
  }

  private async read(uri: string): Promise<LoadedImage> {
    const result = await this.app.readServerResource({ uri });
    const content = result.contents[0];
    if (!content || !("blob" in content)) throw new ServerError(`No image at ${uri}.`);
    const mimeType = content.mimeType ?? "image/jpeg";
    return {
      dataUrl: `data:${mimeType};base64,${content.blob}`,
      mimeType,
      bytes: Math.floor((content.blob.length * 3) / 4),
    };
  }
}

export function textOf(result: CallToolResult): string {
  const texts = result.content.flatMap((block) => (block.type === "text" ? [block.text] : []));
  return texts.join("\n") || "The server reported an error.";
}
