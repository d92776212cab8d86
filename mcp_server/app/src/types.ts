/** What the server's app-only `job_status` tool returns (its structuredContent). */

export interface ImageView {
  index: number;
  /** Full-size original, read with resources/read. */
  uri: string;
  /** The budgeted JPEG preview of the same image. */
  preview_uri: string;
  name: string;
  mime_type: string;
  width: number;
  height: number;
  bytes: number;
  seed: number | null;
  /** Where the original is saved on the server (what edit_image takes as a reference). */
  path: string;
}

export interface FailureView {
  index: number;
  kind: string;
  message: string;
}

export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

export interface JobActions {
  /** The same request again (a new draw). */
  reroll: ToolCall;
  /** The model and provider edits of this job's images use. */
  edit: { model: string | null; provider: string | null };
  /** The largest size the edit model renders (e.g. "4K"), or null when it has none above the images'. */
  rerender_size: string | null;
}

export interface JobView {
  job_id: string;
  tool: string;
  status: string;
  finished: boolean;
  /** Grows with every change; job_status waits for a version above the one the gallery has. */
  version: number;
  queue_position: number | null;
  /** The most images the job can produce. */
  expected: number;
  prompt: string;
  model: string;
  provider: string;
  size: string | null;
  seed: number | null;
  images: ImageView[];
  failures: FailureView[];
  error: string | null;
  actions: JobActions;
}

/** Arguments of the generate_image / edit_image call the host shows the gallery for. */
export type ToolArguments = Record<string, unknown>;
