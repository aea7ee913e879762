// Small DOM helpers shared by the pages. Text goes in through textContent
// only; the one piece of server HTML (search snippets) is parsed by hand.

/** An element with a class and text content. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** `HH:MM` today, `M/D HH:MM` before. */
export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return hm;
  return `${d.getMonth() + 1}/${d.getDate()} ${hm}`;
}

/**
 * Run `action` on Enter (without Shift) in `input`, but never while an input
 * method is composing: Korean syllables are assembled over several key
 * presses, and the Enter that ends a composition must not send half of it.
 */
export function onEnter(input, action) {
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.shiftKey) return;
    if (e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    action();
  });
}

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'" };

/** Undo the server's escaping of snippet text (only the five it produces). */
export function unescapeHtml(text) {
  return text.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (m) => ENTITIES[m]);
}

/**
 * A search snippet as nodes: `<mark>` and `</mark>` become mark elements,
 * everything else is escaped text, turned back into plain text nodes. No
 * other markup is ever interpreted.
 */
export function renderSnippet(snippet) {
  const frag = document.createDocumentFragment();
  let inside = false;
  for (const part of snippet.split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>') {
      inside = true;
    } else if (part === '</mark>') {
      inside = false;
    } else if (part) {
      const text = unescapeHtml(part);
      frag.append(inside ? el('mark', '', text) : document.createTextNode(text));
    }
  }
  return frag;
}
