// The console's shell: sign-in, the navigation, and the router that loads each page's module
// on first use (so the first paint needs only this file, the shared parts and the styles).

import { ApiError, get, loadSession, post, saveSession } from "./api.js";
import { ErrorNote, Field, html, Link, navigate, useAction } from "./ui.js";
import { render, useEffect, useRef, useState } from "./vendor.js";

const BASE = "/console";

// [path, link name, module, who sees it]: "project" pages work in one project's data.
const PAGES = [
  ["/assistants", "Assistants", "./pages/assistants.js", "project"],
  ["/threads", "Threads", "./pages/threads.js", "project"],
  ["/playground", "Playground", "./pages/playground.js", "project"],
  ["/vector-stores", "Vector stores", "./pages/vector_stores.js", "project"],
  ["/usage", "Usage", "./pages/usage.js", "any"],
  ["/logs", "Logs", "./pages/logs.js", "any"],
  ["/keys", "Keys", "./pages/keys.js", "master"],
];
const THREAD_PAGE = /^\/threads\/([^/]+)$/;

/** Which page a location shows: {page, params}. */
function route(pathname) {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) || "/" : pathname;
  const thread = THREAD_PAGE.exec(path);
  if (thread) {
    return { page: ["/threads", "Threads", "./pages/thread.js", "project"], params: { threadId: decodeURIComponent(thread[1]) } };
  }
  const page = PAGES.find(([prefix]) => path === prefix || path === `${prefix}/`);
  return { page: page || null, params: {} };
}

function usePathname() {
  const [pathname, setPathname] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPathname(location.pathname);
    window.addEventListener("popstate", update);
    window.addEventListener("console:navigate", update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener("console:navigate", update);
    };
  }, []);
  return pathname;
}

const loaded = new Map();

/** The page's module, imported once; the view re-renders when it arrives. Read from `loaded`
 * during the render, so that the page before is never rendered at the new location. */
function usePageModule(path) {
  const [, setArrived] = useState(0);
  const [failed, setFailed] = useState(null);
  useEffect(() => {
    if (!path || loaded.has(path)) return;
    import(path).then(
      (imported) => {
        loaded.set(path, imported);
        setFailed(null);
        setArrived((count) => count + 1);
      },
      (error) => setFailed({ path, error }),
    );
  }, [path]);
  const module = (path && loaded.get(path)) || null;
  return { module, error: failed?.path === path ? failed.error : null };
}

function SignIn({ onSignedIn }) {
  const [key, setKey] = useState("");
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      const secret = key.trim();
      if (!secret) throw new Error("Enter an API key.");
      let who;
      try {
        who = await get("/console/api/session", { session: { masterKey: secret } });
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) throw new Error("Invalid API key");
        throw error;
      }
      const session = who.role === "master"
        ? { role: "master", masterKey: secret, project: null }
        : { role: "project", projectKey: secret, project: who.project };
      onSignedIn(session);
    });
  };
  return html`<main class="signin" id="main">
    <form class="card signin-card" onSubmit=${submit} aria-labelledby="signin-title">
      <img src="/console/assets/icon.svg" alt="" width="40" height="40" />
      <h1 id="signin-title">Threadline console</h1>
      <p class="muted">A project key works in its project. The master key administers keys, usage and logs of every project.</p>
      <${Field} label="API key" type="password" autocomplete="off" spellcheck="false"
        value=${key} onInput=${setKey} autofocus required />
      <${ErrorNote} error=${action.error} />
      <button type="submit" disabled=${action.pending}>Sign in</button>
    </form>
  </main>`;
}

/** The master key works in a project through a short-lived key of that project, opened here. */
function ProjectSwitcher({ session, onChange }) {
  const [projects, setProjects] = useState([]);
  const action = useAction();
  useEffect(() => {
    get("/admin/projects", { session }).then((list) => setProjects(list.data), () => {});
  }, []);
  const open = (name) => action.run(async () => {
    if (!name) {
      onChange({ ...session, project: null, projectKey: null });
      return;
    }
    const expires = Math.floor(Date.now() / 1000) + 12 * 3600;
    const created = await post("/admin/keys", { project: name, name: "console", expires_at: expires }, { session });
    onChange({ ...session, project: name, projectKey: created.key });
  });
  const options = [{ value: "", label: "All projects" }, ...projects.map((project) => ({ value: project.name, label: project.name }))];
  if (session.project && !projects.some((project) => project.name === session.project)) {
    options.push({ value: session.project, label: session.project });
  }
  return html`<div class="project-switcher">
    <${Field} label="Project" as="select" options=${options} value=${session.project || ""}
      onInput=${open} disabled=${action.pending}
      hint=${session.project ? "Working through a 12-hour console key of this project." : undefined} />
    <${ErrorNote} error=${action.error} />
  </div>`;
}

function Nav({ session, current }) {
  const visible = PAGES.filter(([, , , who]) => who !== "master" || session.role === "master");
  return html`<nav aria-label="Console">
    <ul>
      ${visible.map(([path, name]) => html`<li>
        <${Link} href=${BASE + path} aria-current=${current?.[0] === path ? "page" : undefined}>${name}<//>
      </li>`)}
    </ul>
  </nav>`;
}

/** What a master key sees on a project page before it picks a project. */
function PickAProject({ name }) {
  return html`<section class="card">
    <h1>${name}</h1>
    <p>This page works in one project. Pick one with <strong>Project</strong> above: the console
      opens a 12-hour key of that project for this tab.</p>
  </section>`;
}

function Shell({ session, setSession }) {
  const pathname = usePathname();
  const { page, params } = route(pathname);
  const needsProject = page && page[3] === "project" && !session.projectKey;
  const { module, error } = usePageModule(page && !needsProject ? page[2] : null);
  useEffect(() => {
    if (!page) navigate(`${BASE}${session.role === "master" ? "/keys" : "/assistants"}`, { replace: true });
  }, [page]);
  useEffect(() => {
    if (page) document.title = `${page[1]} · Threadline`;
  }, [page?.[1]]);
  // After an in-app navigation, focus moves to the new page (as a full load would reset it),
  // so a keyboard or screen reader user starts there rather than on the link they left.
  // Not on the first page shown, nor after the redirect from /console/ (no page was left).
  const previous = useRef({ pathname, page });
  useEffect(() => {
    const left = previous.current;
    if (pathname !== left.pathname && left.page) document.getElementById("main")?.focus({ preventScroll: true });
    previous.current = { pathname, page };
  }, [pathname]);
  const signOut = () => {
    saveSession(null);
    setSession(null);
  };
  let content = null;
  if (page && page[3] === "master" && session.role !== "master") {
    content = html`<p class="note error" role="alert">Only the master key can manage keys.</p>`;
  } else if (needsProject) {
    content = html`<${PickAProject} name=${page[1]} />`;
  } else if (error) {
    content = html`<${ErrorNote} error=${error} />`;
  } else if (module) {
    const Page = module.default;
    content = html`<${Page} session=${session} params=${params} key=${pathname} />`;
  }
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header class="topbar">
      <${Link} href=${`${BASE}/`} class="brand"><img src="/console/assets/icon.svg" alt="" width="24" height="24" /> Threadline<//>
      <div class="who">
        ${session.role === "master"
          ? html`<${ProjectSwitcher} session=${session} onChange=${setSession} />`
          : html`<span class="muted">Project <strong>${session.project}</strong></span>`}
        <button type="button" class="secondary" onClick=${signOut}>Sign out</button>
      </div>
    </header>
    <${Nav} session=${session} current=${page} />
    <main id="main" tabindex="-1">${content}</main>
  </div>`;
}

function App() {
  const [session, setSessionState] = useState(loadSession);
  const setSession = (next) => {
    saveSession(next);
    setSessionState(next);
  };
  if (!session) return html`<${SignIn} onSignedIn=${setSession} />`;
  return html`<${Shell} session=${session} setSession=${setSession} />`;
}

if (location.pathname === BASE) history.replaceState(null, "", `${BASE}/`);
const root = document.getElementById("app");
root.textContent = ""; // the boot placeholder
render(html`<${App} />`, root);
