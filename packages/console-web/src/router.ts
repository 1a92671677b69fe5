/** Hash routes: #/orders, #/order/<id>. A view renders into <main> and may return a cleanup. */
export type View = (main: HTMLElement, params: string[]) => Promise<void | (() => void)>;

export interface Route {
  path: string;
  label: string;
  view: View;
}

export function currentPath(): { path: string; params: string[] } {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  return { path: parts[0] ?? '', params: parts.slice(1) };
}
