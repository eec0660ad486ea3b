/** Tiny DOM helpers: elements are built from text only, never from HTML strings holding data. */

/**
 * Creates an element. `props` keys: class, text, dataset, on<event>, or any attribute.
 * Children may be nodes or strings (strings become text nodes, so they are never parsed as HTML).
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

/** Sets an element's text only when it changed (avoids needless layout work on every tick). */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Sets a data attribute only when it changed. */
export function setData(node, key, value) {
  if (node.dataset[key] !== value) node.dataset[key] = value;
}

/** Returns the element with this id or throws: a missing element is a bug in index.html. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`index.html lacks #${id}`);
  return node;
}

/** The UI scale relative to a 16 px root font (the CSS scales type up on wall screens). */
export function uiScale() {
  const rootPx = parseFloat(getComputedStyle(document.documentElement).fontSize);
  return Number.isFinite(rootPx) && rootPx > 0 ? Math.max(1, rootPx / 16) : 1;
}
