/**
 * The gallery: the job the host rendered it for, and every job started from it (variations, re-renders,
 * edits, rerolls), each as a section that fills in while it runs; the full-size viewer; the reference tray.
 */
import type { CallToolResult } from "@modelcontextprotocol/client";
import { editWith, rerender, reroll, type Strength, vary } from "./actions";
import { h } from "./dom";
import { JobSection, messageOf } from "./section";
import { Server, textOf } from "./server";
import { Tray } from "./tray";
import type { ImageView, JobView, ToolArguments, ToolCall } from "./types";
import { type ImageActions, Viewer } from "./viewer";

export class Gallery implements ImageActions {
  private readonly jobs = h("div", { class: "jobs" });
  private readonly notice = h("p", { class: "notice", role: "alert", hidden: true });
  private readonly placeholder = h("p", { class: "empty" }, "Waiting for the image job…");
  private readonly viewer: Viewer;
  private readonly tray: Tray;
  private readonly sections: JobSection[] = [];
  private first: JobSection | null = null;

  constructor(root: HTMLElement, private readonly server: Server) {
    this.viewer = new Viewer(server, this);
    this.tray = new Tray((images, prompt) => this.fromReferences(images, prompt));
    root.replaceChildren(this.notice, this.placeholder, this.jobs, this.tray.element, this.viewer.element);
  }

  /** The arguments of the call the host shows us for; `callId` (the host's tools/call id) finds its job early. */
  showRequest(args: ToolArguments, callId?: string | number): void {
    if (!this.first) this.first = this.addSection(args);
    if (callId !== undefined) this.first.track({ ticket: `request:${callId}` });
  }

  /** The call's result: follow its job to the end (it may still be running), or show its error. */
  showResult(result: CallToolResult): void {
    const section = this.first ?? (this.first = this.addSection({}));
    this.settle(section, result);
  }

  showCancelled(reason: string | undefined): void {
    if (this.first && !this.first.view) this.first.showError(reason ? `Cancelled: ${reason}` : "Cancelled.");
  }

  stop(): void {
    for (const section of this.sections) section.stop();
  }

  vary(section: JobSection, image: ImageView, strength: Strength): void {
    this.launch(vary(section.view!, image, strength));
  }

  rerender(section: JobSection, image: ImageView): void {
    const call = rerender(section.view!, image);
    if (call) this.launch(call);
  }

  edit(section: JobSection, image: ImageView, prompt: string): void {
    this.launch(editWith(section.view!, [image], prompt));
  }

  reroll(section: JobSection): void {
    this.launch(reroll(section.view!));
  }

  reference(image: ImageView): void {
    this.server.readImage(image.preview_uri).then(
      (preview) => this.tray.add(image, preview.dataUrl),
      (error: unknown) => this.warn(messageOf(error)),
    );
  }

  download(image: ImageView): void {
    this.server.download(image).catch((error: unknown) => this.warn(messageOf(error)));
  }

  private fromReferences(images: ImageView[], prompt: string): void {
    const owner = this.sections.find((section) => section.images.some((image) => image.uri === images[0].uri));
    if (owner?.view) this.launch(editWith(owner.view, images, prompt));
  }

  /** Runs a generation from the gallery: a new section follows it by ticket while the call runs. */
  private launch(call: ToolCall): void {
    const section = this.addSection(call.arguments);
    const ticket = `app:${randomId()}`;
    section.track({ ticket });
    this.server.generate(call, ticket).then(
      (result) => this.settle(section, result),
      (error: unknown) => this.warn(messageOf(error)),
    );
  }

  private settle(section: JobSection, result: CallToolResult): void {
    const jobId = (result.structuredContent as Partial<JobView> | undefined)?.job_id;
    if (jobId) section.track({ job_id: jobId });
    else section.showError(textOf(result));
  }

  private addSection(args: ToolArguments): JobSection {
    const section = new JobSection(this.server, {
      open: (owner, position) => this.viewer.open(owner, position),
      failed: (message) => this.warn(message),
    }, args);
    this.sections.push(section);
    this.placeholder.remove();
    this.jobs.append(section.element);
    return section;
  }

  private warn(message: string): void {
    this.notice.textContent = message;
    this.notice.hidden = false;
  }
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
