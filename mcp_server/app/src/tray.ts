/** The reference tray: images picked with "Use as reference", and a prompt to make something new from them. */
import { fill, h, onEnter } from "./dom";
import type { ImageView } from "./types";

export class Tray {
  readonly element: HTMLElement;
  private readonly list = h("ul", { class: "tray-list", role: "list" });
  private readonly input = h("input", { type: "text", name: "prompt", autocomplete: "off",
    placeholder: "What to make from these references" });
  private readonly picked: Array<{ image: ImageView; thumbnail: string }> = [];

  constructor(private readonly submit: (images: ImageView[], prompt: string) => void) {
    const go = () => {
      const prompt = this.input.value.trim();
      if (!prompt || !this.picked.length) return;
      this.submit(this.picked.map((entry) => entry.image), prompt);
      this.input.value = "";
    };
    const form = h("div", { class: "tray-form" },
      h("label", {}, "Prompt ", this.input),
      h("button", { type: "button", onclick: go }, "Generate from references"));
    onEnter(this.input, go);
    this.element = h("aside", { class: "tray", "aria-label": "References", hidden: true },
      h("h2", {}, "References"), this.list, form);
  }

  add(image: ImageView, thumbnail: string): void {
    if (this.picked.some((entry) => entry.image.uri === image.uri)) return;
    this.picked.push({ image, thumbnail });
    this.render();
    this.input.focus();
  }

  private remove(uri: string): void {
    const position = this.picked.findIndex((entry) => entry.image.uri === uri);
    if (position >= 0) this.picked.splice(position, 1);
    this.render();
  }

  private render(): void {
    this.element.hidden = this.picked.length === 0;
    fill(this.list, ...this.picked.map(({ image, thumbnail }) =>
      h("li", { class: "tray-item" },
        h("img", { src: thumbnail, alt: `Reference: image ${image.index + 1}` }),
        h("button", { type: "button", class: "remove", "aria-label": `Remove reference image ${image.index + 1}`,
          onclick: () => this.remove(image.uri) }, "×"))));
  }
}
