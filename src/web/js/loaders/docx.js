// Word (.docx) through mammoth, which maps the document's styles to HTML (headings, paragraphs,
// lists, tables); the HTML walker turns that into text and structure. Images are dropped.
import { badInput } from './document.js';
import { htmlToDocument } from './html.js';

/** Loads a .docx: `{ title, text, structure: { headings }, metadata }`. */
export async function docxToDocument(bytes, { name = 'the Word file' } = {}) {
  const mod = await import('mammoth');
  const mammoth = mod.default ?? mod;
  let html;
  try {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    ({ value: html } = await mammoth.convertToHtml(
      // `arrayBuffer` for its browser build, `buffer` for Node's.
      { arrayBuffer: buffer, buffer: bytes },
      { convertImage: mammoth.images.imgElement(() => ({ src: '' })), ignoreEmptyParagraphs: true },
    ));
  } catch (e) {
    throw badInput(`${name} is not a readable .docx file (${e?.message ?? e})`);
  }
  const doc = await htmlToDocument(html);
  return { ...doc, metadata: { mediaType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' } };
}
