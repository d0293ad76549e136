// localrag/loaders: files to the documents `LocalRag.add` takes, with their pages and headings.
// The libraries of each format (pdfjs-dist, mammoth, marked, parse5) are optional peer
// dependencies, imported when a file of that format is loaded.
import type { DocumentInput } from '../localrag.js';

export type FileFormat = 'pdf' | 'docx' | 'html' | 'markdown' | 'text';

export interface LoadOptions {
  /** The format; default: from the file's type, its name's extension, then its first bytes. */
  type?: FileFormat;
  /** The file's name, where `file` is bytes (for the title, the source and the format). */
  name?: string;
  /** Set on the document (default: none, so `add` gives it a hash of the text). */
  id?: string;
  /** Default: the PDF's Title, the HTML page's <title>, the first heading (Word, HTML,
   * Markdown), or else the file's name without its extension. */
  title?: string;
  /** Default: the file's name. */
  source?: string;
  /** An encrypted PDF's password (without it: E_UNSUPPORTED). */
  password?: string;
  /**
   * PDF.js's worker script (`pdfjs-dist/build/pdf.worker.mjs` as your bundler serves it). Without
   * it, and without `GlobalWorkerOptions.workerSrc` set, the PDF is parsed on the calling thread
   * (right in a Worker; on a page it blocks while a large PDF is read).
   */
  workerSrc?: string | URL;
  /** `{ stage: 'parse', loaded, total }` after each PDF page. */
  onProgress?: (p: { stage: 'parse'; loaded: number; total: number }) => void;
}

/** What a loader makes: a document for `add`, with `metadata.mediaType`, `metadata.fileName`
 * and, for a PDF, `metadata.pages` and `metadata.pagesWithoutText` (scanned pages). */
export type LoadedDocument = DocumentInput & { text: string };

/**
 * A File, Blob, ArrayBuffer or Uint8Array to a document. Errors (LocalRagError): E_UNSUPPORTED
 * for a scanned PDF (no text layer: no OCR is done), an encrypted PDF without its password, a
 * format that is not supported and text that is not UTF-8/UTF-16; E_INPUT for a damaged file, a
 * wrong password, a file without text or a wrong option. The two password errors carry
 * `needsPassword: true`, so that a page can ask for the password and call again with it.
 */
export declare function loadFile(file: Blob | ArrayBuffer | ArrayBufferView, options?: LoadOptions): Promise<LoadedDocument>;

/** The format of a file, or null when it is not one the loaders read. */
export declare function detectFormat(bytes: Uint8Array, name?: string, mediaType?: string): FileFormat | null;
