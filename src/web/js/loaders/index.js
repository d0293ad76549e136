// localrag/loaders: files to the documents `add` takes, with their structure (pages and
// headings). Import it only where files are added; each format's library (pdfjs-dist, mammoth,
// marked, parse5 — optional peer dependencies) is imported when a file of that format comes.
//
//   import { loadFile } from 'localrag/loaders';
//   await rag.add([await loadFile(file)]);
import { baseName, bytesOf, badInput, unsupported } from './document.js';
import { docxToDocument } from './docx.js';
import { htmlToDocument } from './html.js';
import { pdfToDocument } from './pdf.js';
import { decodeText, markdownToDocument, textToDocument } from './text.js';

export { DocumentBuilder } from './document.js';

const KINDS = ['pdf', 'docx', 'html', 'markdown', 'text'];
/** Extensions read as plain text ('' : a file without one). */
const TEXT_EXTENSIONS = ['txt', 'text', 'csv', 'tsv', 'log', 'json', 'jsonl', 'xml', 'yaml', 'yml', 'toml', 'ini', 'rst', 'tex', ''];
const OPTIONS = ['id', 'title', 'source', 'type', 'password', 'workerSrc', 'onProgress', 'name'];

/** The format of a file: its declared type, its name's extension, then its first bytes. */
export function detectFormat(bytes, name = '', mediaType = '') {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? '';
  const head = String.fromCharCode(...bytes.subarray(0, 8));
  if (mediaType === 'application/pdf' || ext === 'pdf' || head.startsWith('%PDF-')) return 'pdf';
  if (ext === 'docx' || mediaType.includes('wordprocessingml')) return 'docx';
  if (['html', 'htm', 'xhtml'].includes(ext) || mediaType === 'text/html') return 'html';
  if (['md', 'markdown', 'mdown', 'mkd'].includes(ext) || mediaType === 'text/markdown') return 'markdown';
  if (TEXT_EXTENSIONS.includes(ext) || mediaType.startsWith('text/') || mediaType === 'application/json') {
    // A zip (a .docx without its name) or another binary file is not text.
    if (head.startsWith('PK\x03\x04')) return ext ? null : 'docx';
    return 'text';
  }
  if (['doc', 'rtf', 'odt', 'pages', 'xls', 'xlsx', 'ppt', 'pptx', 'epub'].includes(ext)) return null;
  return null;
}

/**
 * A File, Blob, ArrayBuffer or Uint8Array to `{ id?, title, source, text, structure, metadata }`
 * for `add`. Options: `type` ('pdf', 'docx', 'html', 'markdown', 'text'; default: detected),
 * `name` (for the title and the format when `file` has none), `id`, `title`, `source`,
 * `password` (an encrypted PDF), `workerSrc` (PDF.js's worker script; see README),
 * `onProgress` ({ stage: 'parse', loaded, total } per PDF page).
 */
export async function loadFile(file, options = {}) {
  if (options === null || typeof options !== 'object') throw badInput('loadFile options must be an object');
  for (const k of Object.keys(options)) {
    if (!OPTIONS.includes(k)) throw badInput(`unknown loadFile option \`${k}\` (known: ${OPTIONS.join(', ')})`);
  }
  const name = options.name ?? (typeof file?.name === 'string' ? file.name : '');
  const bytes = await bytesOf(file);
  const type = options.type ?? detectFormat(bytes, name, typeof file?.type === 'string' ? file.type : '');
  if (options.type !== undefined && !KINDS.includes(options.type)) {
    throw badInput(`loadFile type must be one of ${KINDS.join(', ')}`);
  }
  const label = name ? `"${name}"` : `the ${type ?? ''} file`.replace('  ', ' ');
  if (!type) {
    throw unsupported(`${label}: this format is not supported (PDF, Word .docx, HTML, Markdown and UTF-8/UTF-16 text are)`);
  }
  let doc;
  switch (type) {
    case 'pdf':
      doc = await pdfToDocument(bytes, { password: options.password, workerSrc: options.workerSrc, onProgress: options.onProgress, name: label });
      break;
    case 'docx':
      doc = await docxToDocument(bytes, { name: label });
      break;
    case 'html':
      doc = await htmlToDocument(decodeText(bytes, label));
      doc.metadata = { mediaType: 'text/html' };
      break;
    case 'markdown':
      doc = await markdownToDocument(decodeText(bytes, label));
      doc.metadata = { mediaType: 'text/markdown' };
      break;
    default:
      doc = textToDocument(decodeText(bytes, label));
      doc.metadata = { mediaType: 'text/plain' };
  }
  if (!doc.text.trim()) throw badInput(`${label} holds no text`);
  const out = { title: options.title ?? doc.title ?? baseName(name), text: doc.text, structure: doc.structure, metadata: { ...doc.metadata } };
  if (name) out.metadata.fileName = name.replace(/^.*[\\/]/, '');
  if (options.id !== undefined) out.id = options.id;
  out.source = options.source ?? (name || undefined);
  if (out.title === undefined) delete out.title;
  if (out.source === undefined) delete out.source;
  if (!Object.keys(out.structure).length) delete out.structure;
  return out;
}

export { pdfToDocument, docxToDocument, htmlToDocument, markdownToDocument, textToDocument, decodeText };
