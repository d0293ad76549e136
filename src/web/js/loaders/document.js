// The shape every loader returns: the text `add` takes plus where its pages begin and its
// headings stand, as UTF-16 offsets into that text (what JavaScript strings index), built block
// by block so that the offsets can never disagree with the text.
import { LocalRagError } from '../shared.js';

/** Collects a document's text in blocks (paragraphs, headings, list items, table rows). */
export class DocumentBuilder {
  #text = '';
  #pages = [];
  /** Pages whose first text is the next appended. */
  #pending = [];
  #headings = [];
  /** What was appended last: 'heading', 'block', 'line' or 'continue'. */
  #last = null;

  /** Starts page `number` (1-based): it begins with the next text appended. */
  page(number) {
    this.#pending.push({ number, start: -1 });
  }

  /** A heading of `level` (1–6). */
  heading(level, text) {
    const clean = squash(text);
    if (!clean) return;
    const start = this.#append(clean, '\n\n', 'heading');
    this.#headings.push({ level: Math.min(6, Math.max(1, level)), start, end: start + clean.length });
  }

  /** A paragraph; `verbatim` keeps its line breaks and inner spaces (code). */
  block(text, { verbatim = false } = {}) {
    const clean = verbatim ? String(text).replace(/^\n+|\s+$/g, '') : squash(text);
    if (!clean.trim()) return;
    this.#append(clean, '\n\n', 'block');
  }

  /** A line under the previous block (a list item, a table row). */
  line(text) {
    const clean = squash(text);
    if (clean) this.#append(clean, '\n', 'line');
  }

  /** More of the current paragraph: after a space, or joined (`join`: a word hyphenated across
   * a line end, or two CJK lines). */
  continue(text, { join = false } = {}) {
    const clean = squash(text);
    if (clean) this.#append(clean, join ? '' : ' ', 'continue');
  }

  get length() {
    return this.#text.length;
  }

  /** Drops the last `n` characters of the text (a hyphen at a line end). */
  trimEnd(n) {
    this.#text = this.#text.slice(0, Math.max(0, this.#text.length - n));
  }

  /** The end of the text so far. */
  get tail() {
    return this.#text.slice(-32);
  }

  get lastKind() {
    return this.#last;
  }

  #append(text, separator, kind) {
    this.#last = kind;
    if (this.#text) this.#text += separator;
    const start = this.#text.length;
    this.#text += text;
    for (const p of this.#pending) this.#pages.push({ number: p.number, start });
    this.#pending = [];
    return start;
  }

  /** `{ text, structure }`; empty parts are left out. */
  build() {
    const text = this.#text;
    const pages = [...this.#pages, ...this.#pending.map((p) => ({ number: p.number, start: text.length }))];
    const structure = {};
    if (pages.length) structure.pages = pages;
    if (this.#headings.length) structure.headings = this.#headings;
    return { text, structure };
  }
}

/** Runs of white space as one space, trimmed. */
export function squash(s) {
  return String(s).replace(/[\s\u00a0]+/g, ' ').trim();
}

export const unsupported = (message) => new LocalRagError('E_UNSUPPORTED', message);
export const badInput = (message) => new LocalRagError('E_INPUT', message);

/** The bytes of a File, Blob, ArrayBuffer or typed array. */
export async function bytesOf(file) {
  if (file instanceof Uint8Array) return file;
  if (file instanceof ArrayBuffer) return new Uint8Array(file);
  if (ArrayBuffer.isView(file)) return new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  if (typeof Blob !== 'undefined' && file instanceof Blob) return new Uint8Array(await file.arrayBuffer());
  throw badInput('a loader takes a File, Blob, ArrayBuffer or Uint8Array');
}

/** A file's name without its folder and extension, for a title. */
export function baseName(name) {
  if (typeof name !== 'string' || !name) return undefined;
  return name.replace(/^.*[\\/]/, '').replace(/\.[^.]+$/, '') || undefined;
}
