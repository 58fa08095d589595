// Downloads of what is on screen: the server's CSV/XLSX exports. The token goes in a header,
// so the file is fetched here and handed to the browser as a Blob with the server's file name.
import { ApiError } from "./api.js";

// `/export/coverage.csv?level=…`: empty parameters are left out.
export function exportUrl(table, format, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") q.set(k, v);
  return `/export/${table}.${format}?${q}`;
}

// The file name of a Content-Disposition header (RFC 6266: filename* first), else `fallback`.
export function fileNameOf(header, fallback) {
  const star = /filename\*\s*=\s*([\w-]+)'[^']*'([^;]+)/i.exec(header ?? "");
  if (star) {
    try {
      return decodeURIComponent(star[2].trim());
    } catch {
      // a bad encoding: try the plain name
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(header ?? "");
  const name = plain ? (plain[1] ?? plain[2]).replace(/\\(.)/g, "$1") : "";
  return name.replace(/[/\\]/g, "_") || fallback;
}

// The error of a refused export, whatever envelope the route used.
export function refusalOf(status, body) {
  const e = body?.error ?? body?.errors?.[0];
  const code = e?.code ?? e?.extensions?.code ?? body?.code ?? `HTTP_${status}`;
  return new ApiError(code, e?.message ?? body?.description ?? `HTTP ${status}`);
}

export async function download(url, auth) {
  let r;
  try {
    r = await fetch(url, { headers: auth });
  } catch (err) {
    throw new ApiError("NETWORK", err.message);
  }
  if (!r.ok) throw refusalOf(r.status, await r.json().catch(() => null));
  const blob = await r.blob();
  const fallback = url.split("?")[0].split("/").pop();
  const a = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(blob),
    download: fileNameOf(r.headers.get("content-disposition"), fallback),
  });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
