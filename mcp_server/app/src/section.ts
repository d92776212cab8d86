/**
 * One job in the gallery: its prompt and parameters, live status (queue position, images saved, cancel) and a
 * responsive grid of previews in which each image appears as soon as the server has saved it.
 */
import { fill, h } from "./dom";
import { Follower, type Target } from "./follow";
import { Server } from "./server";
import type { ImageView, JobView, ToolArguments } from "./types";

export interface SectionEvents {
  open(section: JobSection, index: number): void;
  failed(message: string): void;
}

type TileState = "pending" | "loading" | "ready" | "failed";

export class JobSection {
  readonly element: HTMLElement;
  view: JobView | null = null;
  private readonly header: HTMLElement;
  private readonly grid: HTMLUListElement;
  private readonly tiles = new Map<number, HTMLLIElement>();
  private follower: Follower | null = null;
  private cancelling = false;

  constructor(
    private readonly server: Server,
    private readonly events: SectionEvents,
    private readonly args: ToolArguments,
  ) {
    this.header = h("header", { class: "job-header" });
    this.grid = h("ul", { class: "grid", role: "list" });
    this.element = h("section", { class: "job", "aria-busy": "true" }, this.header, this.grid);
    this.renderHeader();
    this.renderTiles();
  }

  /** The images saved so far, in order. */
  get images(): ImageView[] {
    return this.view?.images ?? [];
  }

  /** Follows the job: by ticket while its id is unknown (only if nothing is followed yet), then by id. */
  track(target: Target): void {
    if (this.follower) {
      if ("ticket" in target || this.view?.job_id === target.job_id) return;
      this.follower.stop();
    } else if ("ticket" in target && this.view) {
      return;
    }
    const follower = new Follower(this.server, (view) => this.update(view));
    this.follower = follower;
    follower
      .follow(target)
      .catch((error: unknown) => this.events.failed(messageOf(error)))
      .finally(() => {
        if (this.follower === follower) this.follower = null;
      });
  }

  update(view: JobView): void {
    if (this.view && view.version < this.view.version && view.job_id === this.view.job_id) return;
    this.view = view;
    this.element.dataset.jobId = view.job_id;
    this.element.dataset.status = view.status;
    this.element.setAttribute("aria-busy", String(!view.finished));
    this.renderHeader();
    this.renderTiles();
  }

  /** The call failed before any job existed (e.g. invalid arguments): say why. */
  showError(message: string): void {
    this.element.dataset.status = "error";
    this.element.setAttribute("aria-busy", "false");
    this.follower?.stop();
    this.grid.replaceChildren();
    this.tiles.clear();
    fill(this.header, ...this.headline(), h("p", { class: "error", role: "alert" }, message));
  }

  stop(): void {
    this.follower?.stop();
  }

  private renderHeader(): void {
    const view = this.view;
    fill(this.header, ...this.headline(), this.metadata(), ...this.progress(view));
  }

  private headline(): Node[] {
    const prompt = this.view?.prompt ?? String(this.args.prompt ?? "");
    return [h("p", { class: "prompt", title: prompt }, prompt || "(no prompt)")];
  }

  private metadata(): HTMLElement {
    const view = this.view;
    const first = view?.images[0];
    const size = first ? `${first.width}×${first.height}` : (view?.size ?? stringOr(this.args.size, "default"));
    const seed = first?.seed ?? view?.seed ?? numberOr(this.args.seed);
    const entries: Array<[string, string]> = [
      ["Model", view ? `${view.model} · ${view.provider}` : stringOr(this.args.model, "default model")],
      ["Size", size],
    ];
    if (seed !== null) entries.push(["Seed", String(seed)]);
    if (view) entries.push(["Job", view.job_id]);
    return h("dl", { class: "meta" }, ...entries.map(([term, value]) =>
      h("div", {}, h("dt", {}, term), h("dd", { class: term === "Job" ? "mono" : null }, value))));
  }

  private progress(view: JobView | null): Array<Node | null> {
    const status = h("p", { class: "status", role: "status" }, statusText(view, this.expected()));
    if (view?.finished) {
      const failures = view.failures.map((failure) =>
        h("li", {}, `Image ${failure.index + 1}: ${failure.message}`));
      return [status, failures.length ? h("ul", { class: "failures" }, ...failures) : null,
        view.error ? h("p", { class: "error", role: "alert" }, view.error) : null];
    }
    const done = view ? view.images.length + view.failures.length : 0;
    const bar = h("progress", { max: this.expected(), value: done, "aria-label": "Images saved" });
    const cancel = view
      ? h("button", { type: "button", class: "cancel", disabled: this.cancelling, onclick: () => this.cancel() },
        this.cancelling ? "Cancelling…" : "Cancel")
      : null;
    return [h("div", { class: "progress-row" }, status, cancel), bar];
  }

  private async cancel(): Promise<void> {
    if (!this.view || this.cancelling) return;
    this.cancelling = true;
    this.renderHeader();
    try {
      await this.server.cancel(this.view.job_id);
    } catch (error) {
      this.cancelling = false;
      this.renderHeader();
      this.events.failed(messageOf(error));
    }
  }

  private expected(): number {
    if (this.view) return Math.max(this.view.expected, this.view.images.length);
    return Math.max(1, numberOr(this.args.series) ?? numberOr(this.args.count) ?? 1);
  }

  private renderTiles(): void {
    const view = this.view;
    const total = view?.finished ? 0 : this.expected();
    const indexes = new Set<number>([
      ...(view?.images.map((image) => image.index) ?? []),
      ...(view?.failures.map((failure) => failure.index) ?? []),
      ...Array.from({ length: total }, (_, i) => i),
    ]);
    for (const index of [...indexes].sort((a, b) => a - b)) this.renderTile(index);
    for (const [index, tile] of this.tiles) {
      if (!indexes.has(index)) {
        tile.remove(); // a series may end with fewer images than asked for
        this.tiles.delete(index);
      }
    }
  }

  private renderTile(index: number): void {
    let tile = this.tiles.get(index);
    if (!tile) {
      tile = h("li", { class: "tile" });
      const next = [...this.tiles.keys()].filter((i) => i > index).sort((a, b) => a - b)[0];
      this.grid.insertBefore(tile, next === undefined ? null : this.tiles.get(next)!);
      this.tiles.set(index, tile);
    }
    const image = this.view?.images.find((candidate) => candidate.index === index);
    const failure = this.view?.failures.find((candidate) => candidate.index === index);
    const state = tile.dataset.state as TileState | undefined;
    if (image && (state === "ready" || state === "loading")) return;
    if (image) this.showImage(tile, image);
    else if (failure) this.setTile(tile, "failed", h("p", { class: "tile-note" }, `Image ${index + 1}: ${failure.kind.replace(/_/g, " ")}`));
    else if (state !== "pending") this.setTile(tile, "pending", h("span", { class: "visually-hidden" }, `Image ${index + 1} is being generated`));
  }

  private showImage(tile: HTMLLIElement, image: ImageView): void {
    const count = this.expected();
    const label = `Image ${image.index + 1} of ${count}, ${image.width} × ${image.height}: open full size`;
    const picture = h("img", { alt: `Image ${image.index + 1}: ${this.view?.prompt ?? ""}`, decoding: "async" });
    const button = h("button", { type: "button", class: "open", "aria-label": label,
      onclick: () => this.events.open(this, this.images.findIndex((i) => i.index === image.index)) }, picture);
    this.setTile(tile, "loading", button);
    tile.dataset.index = String(image.index);
    this.server.readImage(image.preview_uri).then(
      (loaded) => {
        picture.src = loaded.dataUrl;
        tile.dataset.state = "ready";
      },
      () => this.setTile(tile, "failed", h("p", { class: "tile-note" }, "Preview unavailable"), button),
    );
  }

  private setTile(tile: HTMLLIElement, state: TileState, ...children: Node[]): void {
    tile.dataset.state = state;
    fill(tile, ...children);
  }
}

export function statusText(view: JobView | null, expected: number): string {
  if (!view) return `Starting ${expected} image${expected === 1 ? "" : "s"}…`;
  const saved = view.images.length;
  const of = `${saved} of ${expected} saved`;
  switch (view.status) {
    case "queued":
      return view.queue_position ? `Waiting for the provider: position ${view.queue_position} in the queue` : "Waiting for the provider";
    case "running":
      return `Generating: ${of}`;
    case "cancelled":
      return `Cancelled: ${saved} image${saved === 1 ? "" : "s"} kept`;
    case "failed":
      return "Failed";
    case "partial":
      return `${of}, ${view.failures.length} failed`;
    default:
      return view.finished ? `${saved} image${saved === 1 ? "" : "s"}` : `Generating: ${of}`;
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" && value ? value : fallback;
}

function numberOr(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}
