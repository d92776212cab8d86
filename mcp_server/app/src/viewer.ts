/**
 * The full-size viewer: a modal dialog showing the original (read with resources/read through the host), with
 * the per-image actions. Keyboard: ←/→ move between images, Esc closes, Tab walks the actions.
 */
import type { Strength } from "./actions";
import { fill, formatBytes, h, onEnter } from "./dom";
import type { JobSection } from "./section";
import { Server } from "./server";
import type { ImageView } from "./types";

export interface ImageActions {
  vary(section: JobSection, image: ImageView, strength: Strength): void;
  rerender(section: JobSection, image: ImageView): void;
  edit(section: JobSection, image: ImageView, prompt: string): void;
  reroll(section: JobSection): void;
  reference(image: ImageView): void;
  download(image: ImageView): void;
}

export class Viewer {
  readonly element: HTMLDialogElement;
  private readonly title = h("p", { class: "viewer-title", id: "viewer-title" });
  private readonly picture = h("img", { class: "full", alt: "" });
  private readonly actionsBar = h("div", { class: "actions", role: "group", "aria-label": "Image actions" });
  private readonly editInput = h("input", { type: "text", name: "prompt", autocomplete: "off",
    placeholder: "e.g. make it night, add snow" });
  private readonly editForm: HTMLDivElement;
  private section: JobSection | null = null;
  private position = 0;

  constructor(
    private readonly server: Server,
    private readonly actions: ImageActions,
  ) {
    const submit = () => {
      const prompt = this.editInput.value.trim();
      if (prompt && this.section) this.run(() => this.actions.edit(this.section!, this.image(), prompt));
    };
    this.editForm = h("div", { class: "edit-form", role: "group", "aria-label": "Edit", hidden: true },
      h("label", {}, "Edit instruction ", this.editInput),
      h("button", { type: "button", onclick: submit }, "Edit"));
    onEnter(this.editInput, submit);
    const close = h("button", { type: "button", class: "close", "aria-label": "Close viewer",
      onclick: () => this.element.close() }, "×");
    const previous = h("button", { type: "button", class: "nav previous", "aria-label": "Previous image",
      onclick: () => this.move(-1) }, "‹");
    const next = h("button", { type: "button", class: "nav next", "aria-label": "Next image",
      onclick: () => this.move(1) }, "›");
    this.element = h("dialog", { class: "viewer", "aria-labelledby": "viewer-title" },
      h("div", { class: "viewer-top" }, this.title, close),
      h("figure", { class: "stage" }, previous, this.picture, next),
      this.actionsBar, this.editForm);
    this.element.addEventListener("keydown", (event) => this.onKey(event));
    this.element.addEventListener("close", () => document.body.classList.remove("viewing"));
  }

  open(section: JobSection, position: number): void {
    this.section = section;
    document.body.classList.add("viewing"); // room for the dialog when the host sizes the frame to content
    if (!this.element.open) this.element.showModal();
    this.show(position);
  }

  private image(): ImageView {
    return this.section!.images[this.position];
  }

  private show(position: number): void {
    const images = this.section?.images ?? [];
    if (!images.length) return;
    this.position = (position + images.length) % images.length;
    const image = this.image();
    const view = this.section!.view!;
    this.title.textContent =
      `Image ${image.index + 1} of ${images.length} · ${image.width} × ${image.height} · ${formatBytes(image.bytes)}`;
    this.picture.alt = `Image ${image.index + 1}, full size: ${view.prompt}`;
    this.picture.dataset.loaded = "none";
    this.picture.dataset.uri = image.uri;
    this.server.readImage(image.preview_uri).then((preview) => {
      if (this.picture.dataset.uri === image.uri && this.picture.dataset.loaded === "none") {
        this.picture.src = preview.dataUrl;
        this.picture.dataset.loaded = "preview";
      }
    }, () => undefined);
    this.server.readImage(image.uri).then((full) => {
      if (this.picture.dataset.uri !== image.uri) return;
      this.picture.src = full.dataUrl;
      this.picture.dataset.loaded = "full";
    }, () => {
      if (this.picture.dataset.uri === image.uri) this.title.textContent += " · the original could not be read";
    });
    this.renderActions(image);
  }

  private renderActions(image: ImageView): void {
    const section = this.section!;
    const rerender = section.view?.actions.rerender_size;
    const button = (label: string, action: () => void, disabled = false) =>
      h("button", { type: "button", disabled, onclick: () => this.run(action) }, label);
    fill(this.actionsBar,
      button("Vary (subtle)", () => this.actions.vary(section, image, "subtle")),
      button("Vary (strong)", () => this.actions.vary(section, image, "strong")),
      button(`Re-render ${rerender ?? "4K"}`, () => this.actions.rerender(section, image), !rerender),
      h("button", { type: "button", "aria-expanded": String(!this.editForm.hidden),
        onclick: (event: Event) => this.toggleEdit(event.currentTarget as HTMLButtonElement) }, "Edit…"),
      button("Reroll", () => this.actions.reroll(section)),
      button("Use as reference", () => this.actions.reference(image)),
      h("button", { type: "button", onclick: () => this.actions.download(image) }, "Download original"));
  }

  private toggleEdit(button: HTMLButtonElement): void {
    this.editForm.hidden = !this.editForm.hidden;
    button.setAttribute("aria-expanded", String(!this.editForm.hidden));
    if (!this.editForm.hidden) this.editInput.focus();
  }

  /** Starts an action and closes the viewer, so the new job's images are seen arriving. */
  private run(action: () => void): void {
    action();
    this.editForm.hidden = true;
    this.editInput.value = "";
    this.element.close();
  }

  private move(step: number): void {
    this.show(this.position + step);
  }

  private onKey(event: KeyboardEvent): void {
    if (event.target instanceof HTMLInputElement) return;
    if (event.key === "ArrowLeft") this.move(-1);
    else if (event.key === "ArrowRight") this.move(1);
    else return;
    event.preventDefault();
  }
}
