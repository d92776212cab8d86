/**
 * The Seedream gallery, an MCP App (io.modelcontextprotocol/ui) for generate_image and edit_image.
 *
 * The host renders it in a sandboxed iframe for a call of either tool and tells it the call's arguments
 * (tool-input) and, once the call returns, its result (tool-result). Everything else — the job's live state,
 * the images, the actions — goes through the host to the Seedream MCP server: tools/call and resources/read.
 */
import {
  App,
  applyDocumentTheme,
  applyHostFonts,
  applyHostStyleVariables,
  type McpUiHostContext,
} from "@modelcontextprotocol/ext-apps";
import { Gallery } from "./gallery";
import { Server } from "./server";

function applyContext(context: Partial<McpUiHostContext> | undefined): void {
  if (!context) return;
  if (context.theme) applyDocumentTheme(context.theme);
  if (context.styles?.variables) applyHostStyleVariables(context.styles.variables);
  if (context.styles?.css?.fonts) applyHostFonts(context.styles.css.fonts);
}

async function main(): Promise<void> {
  const app = new App({ name: "Seedream gallery", version: "1.0.0" }, {}, { autoResize: true });
  const gallery = new Gallery(document.getElementById("root")!, new Server(app));
  // Handlers first: the host may send tool-input right after the handshake.
  app.ontoolinput = ({ arguments: args }) => gallery.showRequest(args ?? {}, app.getHostContext()?.toolInfo?.id);
  app.ontoolresult = (result) => gallery.showResult(result);
  app.ontoolcancelled = ({ reason }) => gallery.showCancelled(reason);
  app.onhostcontextchanged = (context) => applyContext(context);
  app.onteardown = async () => {
    gallery.stop();
    return {};
  };
  await app.connect();
  applyContext(app.getHostContext());
}

main().catch((error: unknown) => {
  const root = document.getElementById("root");
  if (root) root.textContent = `The gallery could not start: ${error instanceof Error ? error.message : error}`;
});
