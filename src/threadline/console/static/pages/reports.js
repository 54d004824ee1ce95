// What the Usage and Logs pages share: reading /console/api's reports with the right key, and
// the master key's lists of projects and key names for filters and labels.

import { get } from "../api.js";
import { useEffect, useRef, useState } from "../vendor.js";

/** A report of /console/api. The master key reads it itself (every project, even while it works
 * in one through the project switcher); a project key reads its own project's. */
export function getReport(path, session, query, signal) {
  const reader = session.role === "master" ? { role: "master", masterKey: session.masterKey } : session;
  return get(path, { session: reader, query, signal });
}

/** The master key's project names (empty for a project key, which sees only its own). */
export function useProjectNames(session) {
  const [names, setNames] = useState([]);
  useEffect(() => {
    if (session.role !== "master") return;
    get("/admin/projects", { session }).then((list) => setNames(list.data.map((project) => project.name)), () => {});
  }, [session.role]);
  return names;
}

/** Key id -> its name, from /admin/keys for the master key (a project key cannot list keys). */
export function useKeyNames(session) {
  const [names, setNames] = useState(new Map());
  useEffect(() => {
    if (session.role !== "master") return;
    get("/admin/keys", { session }).then(
      (list) => setNames(new Map(list.data.filter((key) => key.name).map((key) => [key.id, key.name]))),
      () => {},
    );
  }, [session.role]);
  return names;
}

/** A long id cut in the middle ("key_houc…hr88"), for narrow places that have it whole on hover. */
export function shortId(id) {
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

/** The filter the master key starts with: the project it works in, if any; it follows the
 * project switcher. */
export function useProjectFilter(session) {
  const [project, setProject] = useState(session.role === "master" ? session.project || "" : "");
  useEffect(() => {
    if (session.role === "master") setProject(session.project || "");
  }, [session.project]);
  return [project, setProject];
}

/** An element's width in pixels, followed as it changes (for drawing at the right size). */
export function useWidth(fallback) {
  const ref = useRef(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const element = ref.current;
    if (!element) return undefined;
    const observer = new ResizeObserver(([entry]) => {
      const measured = Math.floor(entry.contentRect.width);
      if (measured > 0) setWidth(measured);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumSignificantDigits: 3 });

export const formatCompact = (value) => compact.format(value);

/** US dollars to the nano-dollar, without trailing zeros ("$0.000125", "$12.5"). */
export function formatCost(value) {
  const amount = Number(value);
  if (!Number.isFinite(amount)) return "—";
  if (amount === 0) return "$0";
  if (Math.abs(amount) >= 1) return `$${amount.toLocaleString(undefined, { maximumFractionDigits: 2 })}`;
  return `$${amount.toFixed(9).replace(/\.?0+$/, "")}`;
}
