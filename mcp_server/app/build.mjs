// Builds gallery.html — ONE self-contained file (no CDN, no network at run time) — from src/ with esbuild.
// Usage: node build.mjs [OUT]  (default: gallery.html next to this script). The output is committed;
// tests/mcp_server/app/test_gallery_build.py rebuilds it and checks that it matches.
import { build } from "esbuild";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const common = { bundle: true, minify: true, write: false, charset: "utf8", legalComments: "eof", logLevel: "warning" };

// The SDKs import zod as one namespace object (`import { z } from "zod/v4"`), which keeps every export alive,
// including ~60 translations of its error messages (a third of the bundle). Nothing here reads `z.locales`;
// zod's own default (English) is imported by zod directly, so the translations index keeps only English.
const englishOnly = {
  name: "zod-english-only",
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.resolveDir.includes("/node_modules/zod/") ? { path: "zod-locales", namespace: "english-only" } : undefined);
    build.onLoad({ filter: /.*/, namespace: "english-only" }, () => ({
      contents: 'export { default as en } from "zod/v4/locales/en.js";',
      resolveDir: here("."),
    }));
  },
};

const [script, style] = await Promise.all([
  build({
    ...common, entryPoints: [here("src/main.ts")], format: "iife", platform: "browser", target: "es2022",
    plugins: [englishOnly],
  }),
  build({ ...common, entryPoints: [here("src/gallery.css")] }),
]);
const js = script.outputFiles[0].text.replaceAll("</script", "<\\/script"); // inline in <script>: never close it
const css = style.outputFiles[0].text.replaceAll("</style", "<\\/style");
const notice =
  "<!-- Seedream gallery, built by mcp_server/app/build.mjs from mcp_server/app/src (do not edit). Bundles " +
  "@modelcontextprotocol/ext-apps (MIT), @modelcontextprotocol/client and core (Apache-2.0), zod (MIT). -->\n";
const template = await readFile(here("src/index.html"), "utf8");
const html = template
  .replace("<html", () => `${notice}<html`)
  .replace("/* STYLE */", () => css.trim())
  .replace("/* SCRIPT */", () => js.trim());
await writeFile(process.argv[2] ?? here("gallery.html"), html);
