type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

/**
 * Creates an element: `h('button', { type: 'button', onclick: fn, 'aria-pressed': 'true' }, 'On')`.
 * Text always goes in as text nodes (never HTML), so data from the API cannot inject markup.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  element.append(
    ...children
      .filter(
        (child): child is Node | string | number => child !== null && child !== undefined && child !== false,
      )
      .map((child) => (typeof child === 'number' ? String(child) : child)),
  );
  return element;
}

/** Offers `text` as a file download (CSV of a chart or table). */
export function download(filename: string, text: string, type = 'text/csv;charset=utf-8'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;

/** A short message read out by screen readers and shown at the bottom of the page for a while. */
export function announce(message: string, kind: 'info' | 'error' = 'info'): void {
  const region = document.getElementById('notice');
  if (!region) return;
  region.textContent = message;
  region.dataset.kind = kind;
  region.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (region.hidden = true), kind === 'error' ? 10_000 : 4_000);
}

/** A file-name-safe stamp of a time: 2026-11-23T18-45. */
export function fileStamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replaceAll(':', '-');
}
