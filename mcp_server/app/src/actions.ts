/**
 * The per-image actions as server tool calls. Seedream has no "strength" parameter: a variation is an edit
 * with the image as reference and an instruction that says how far to go.
 */
import type { ImageView, JobView, ToolCall } from "./types";

/** How much of the original prompt an instruction carries along (the server allows 4000 characters). */
const PROMPT_TAIL = 1500;

const INSTRUCTIONS = {
  subtle:
    "A subtle variation of the reference image: the same subject, composition, palette and style, " +
    "with small changes in the details.",
  strong:
    "A strong variation of the reference image: the same subject and idea, with a new composition, " +
    "pose, lighting and palette.",
  rerender:
    "Re-render the reference image at a higher resolution with finer detail; keep its content, " +
    "composition and colours exactly as they are.",
};

const RATIOS: ReadonlyArray<readonly [string, number]> = [
  ["1:1", 1], ["4:3", 4 / 3], ["3:4", 3 / 4], ["16:9", 16 / 9],
  ["9:16", 9 / 16], ["3:2", 3 / 2], ["2:3", 2 / 3], ["21:9", 21 / 9],
];

export type Strength = "subtle" | "strong";

/** edit_image with `image` as the reference, at the image's own size. */
export function vary(job: JobView, image: ImageView, strength: Strength): ToolCall {
  return edit(job, [image], withOriginal(INSTRUCTIONS[strength], job.prompt), {
    size: `${image.width}x${image.height}`,
  });
}

/** edit_image at the edit model's largest size, in the image's aspect ratio; null when there is none. */
export function rerender(job: JobView, image: ImageView): ToolCall | null {
  const size = job.actions.rerender_size;
  if (!size) return null;
  return edit(job, [image], withOriginal(INSTRUCTIONS.rerender, job.prompt), {
    size,
    aspect_ratio: nearestRatio(image.width, image.height),
  });
}

/** edit_image with the user's own instruction over one or more reference images. */
export function editWith(job: JobView, images: ImageView[], prompt: string): ToolCall {
  return edit(job, images, prompt, {});
}

/** The job's own request again: a new draw. */
export function reroll(job: JobView): ToolCall {
  return { name: job.actions.reroll.name, arguments: { ...job.actions.reroll.arguments } };
}

export function nearestRatio(width: number, height: number): string {
  const ratio = width / height;
  let best = RATIOS[0];
  for (const candidate of RATIOS) {
    if (Math.abs(Math.log(candidate[1] / ratio)) < Math.abs(Math.log(best[1] / ratio))) best = candidate;
  }
  return best[0];
}

function edit(job: JobView, images: ImageView[], prompt: string, extra: Record<string, unknown>): ToolCall {
  const { model, provider } = job.actions.edit;
  const args: Record<string, unknown> = { images: images.map((image) => image.path), prompt, ...extra };
  if (model) args.model = model;
  if (provider) args.provider = provider;
  return { name: "edit_image", arguments: args };
}

function withOriginal(instruction: string, prompt: string): string {
  const original = prompt.trim().slice(0, PROMPT_TAIL);
  return original ? `${instruction} Original prompt: ${original}` : instruction;
}
