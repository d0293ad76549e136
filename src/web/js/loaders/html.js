// HTML (a saved web page, or what the DOCX and Markdown loaders make) to text and structure,
// through parse5: a parser only, so nothing in the file ever runs — no script, no style, no
// request for an image — and it works the same on a page and in a Worker (no DOMParser there).
import { DocumentBuilder, squash } from './document.js';

/** Elements whose content is never text of the document. */
const SKIP = new Set([
  'script', 'style', 'noscript', 'template', 'head', 'svg', 'math', 'iframe', 'object', 'embed',
  'canvas', 'video', 'audio', 'select', 'button', 'input', 'textarea', 'nav',
]);
/** Elements that end the running paragraph. */
const BLOCKS = new Set([
  'p', 'div', 'section', 'article', 'main', 'header', 'footer', 'aside', 'blockquote', 'figure',
  'figcaption', 'address', 'dl', 'dt', 'dd', 'hr', 'form', 'fieldset', 'details', 'summary',
  'center', 'body', 'html', 'caption',
]);

const childrenOf = (node) => (node.nodeName === 'template' ? node.content?.childNodes : node.childNodes) ?? [];

/** The text of a subtree (what is not skipped), as one line. */
function textOf(node, skipLists = false) {
  const parts = [];
  const visit = (n) => {
    if (n.nodeName === '#text') parts.push(n.value);
    else if (n.tagName && SKIP.has(n.tagName)) return;
    else if (skipLists && (n.tagName === 'ul' || n.tagName === 'ol')) return;
    else {
      if (n.tagName === 'br') parts.push(' ');
      for (const c of childrenOf(n)) visit(c);
      if (n.tagName && (BLOCKS.has(n.tagName) || n.tagName === 'td' || n.tagName === 'th' || n.tagName === 'li')) parts.push(' ');
    }
  };
  visit(node);
  return squash(parts.join(''));
}

function find(node, tag) {
  if (node.tagName === tag) return node;
  for (const c of childrenOf(node)) {
    const f = find(c, tag);
    if (f) return f;
  }
  return null;
}

/**
 * Walks a parse5 document into `builder`: headings, paragraphs, list items ('- ' or '1. '),
 * table rows (cells joined by ' | '), code blocks verbatim. Returns the page's <title>.
 */
export function walkHtml(document, builder) {
  let inline = [];
  const flush = () => {
    const t = squash(inline.join(''));
    inline = [];
    if (t) builder.block(t);
  };
  const visit = (node) => {
    if (node.nodeName === '#text') {
      inline.push(node.value);
      return;
    }
    const tag = node.tagName;
    if (!tag) {
      for (const c of childrenOf(node)) visit(c);
      return;
    }
    if (SKIP.has(tag)) return;
    const h = /^h([1-6])$/.exec(tag);
    if (h) {
      flush();
      builder.heading(Number(h[1]), textOf(node));
      return;
    }
    if (tag === 'ul' || tag === 'ol') {
      flush();
      let n = Number(node.attrs?.find((a) => a.name === 'start')?.value) || 1;
      let first = true;
      for (const li of childrenOf(node)) {
        if (li.tagName !== 'li') {
          if (li.tagName) visit(li);
          continue;
        }
        const item = `${tag === 'ol' ? `${n++}.` : '-'} ${textOf(li, true)}`;
        if (first) builder.block(item);
        else builder.line(item);
        first = false;
        // Nested lists follow their item.
        for (const c of childrenOf(li)) if (c.tagName === 'ul' || c.tagName === 'ol') visit(c);
      }
      return;
    }
    if (tag === 'table') {
      flush();
      let first = true;
      const rows = [];
      const collect = (n) => {
        for (const c of childrenOf(n)) {
          if (c.tagName === 'tr') rows.push(c);
          else if (c.tagName && !SKIP.has(c.tagName) && c.tagName !== 'table') collect(c);
        }
      };
      collect(node);
      const caption = childrenOf(node).find((c) => c.tagName === 'caption');
      if (caption) builder.block(textOf(caption));
      for (const tr of rows) {
        const cells = childrenOf(tr).filter((c) => c.tagName === 'td' || c.tagName === 'th').map((c) => textOf(c));
        const row = cells.filter(Boolean).join(' | ');
        if (!row) continue;
        if (first) builder.block(row);
        else builder.line(row);
        first = false;
      }
      return;
    }
    if (tag === 'pre') {
      flush();
      const parts = [];
      const raw = (n) => {
        if (n.nodeName === '#text') parts.push(n.value);
        else for (const c of childrenOf(n)) raw(c);
      };
      raw(node);
      builder.block(parts.join(''), { verbatim: true });
      return;
    }
    if (tag === 'br') {
      inline.push(' ');
      return;
    }
    const block = BLOCKS.has(tag) || tag === 'li';
    if (block) flush();
    for (const c of childrenOf(node)) visit(c);
    if (block) flush();
  };
  const title = find(document, 'title');
  const body = find(document, 'body') ?? document;
  visit(body);
  flush();
  return title ? textOf(title) : undefined;
}

/** The first heading's text, for a title. */
export function firstHeading(doc) {
  const h = doc.structure.headings?.[0];
  return h ? doc.text.slice(h.start, h.end) : undefined;
}

/** HTML source to `{ title, text, structure }`. */
export async function htmlToDocument(html) {
  const { parse } = await import('parse5');
  const builder = new DocumentBuilder();
  const title = walkHtml(parse(html), builder);
  const doc = builder.build();
  return { title: title || firstHeading(doc), ...doc };
}
