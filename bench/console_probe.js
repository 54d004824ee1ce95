// Injected by bench/console_bench.py into every document before the console's own scripts (a
// Playwright init script, so the console's CSP does not apply to it). It timestamps, on the
// page's performance.now() clock:
//   h1     the first frame after the page's <h1> is in #main (a requestAnimationFrame, then a
//          task: the frame that shows it has been produced);
//   ready  the page is usable with its data: its <h1> is shown, no fetch() is in flight, no
//          "Loading…" indicator is shown, and nothing in the document changed and no long task
//          ran for 50 ms; `ready` is the start of those 50 quiet ms (the last DOM change, answer
//          or long task before them).
// A cold load counts from the navigation's start (performance.now() = 0); an in-app navigation
// from the click on the navigation's link (`start`).
(() => {
  const QUIET_MS = 50;
  const probe = { start: 0, h1: null, h1Pending: false, ready: null, inflight: 0, quietSince: null };
  let oldHeading = null;
  let timer = null;
  window.__probe = probe;

  const heading = () => document.querySelector("#main h1");
  const shown = () => {
    const current = heading();
    if (!current || current === oldHeading) return false;
    const link = document.querySelector('nav a[aria-current="page"]');
    return !link || link.getAttribute("href") === location.pathname;
  };
  const busy = () => probe.inflight > 0 || document.querySelector("#main .loading") !== null;

  function settle(changedAt = performance.now()) {
    if (probe.ready !== null) return;
    if (probe.h1 === null && shown() && !probe.h1Pending) {
      probe.h1Pending = true;
      requestAnimationFrame(() => setTimeout(() => {
        probe.h1 = performance.now();
        settle();
      }));
    }
    if (probe.h1 === null || busy()) {
      probe.quietSince = null;
      return;
    }
    probe.quietSince = Math.max(probe.quietSince ?? 0, changedAt);
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (probe.ready !== null || probe.quietSince === null || busy() || !shown()) return;
      if (performance.now() - probe.quietSince >= QUIET_MS) probe.ready = probe.quietSince;
      else settle(probe.quietSince);
    }, QUIET_MS);
  }

  const realFetch = window.fetch;
  window.fetch = function (...args) {
    probe.inflight += 1;
    settle();
    const answered = () => {
      probe.inflight -= 1;
      settle();
    };
    return realFetch.apply(this, args).then(
      (response) => {
        answered();
        return response;
      },
      (error) => {
        answered();
        throw error;
      },
    );
  };

  new MutationObserver(() => {
    probe.quietSince = null;
    settle();
  }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });

  try {
    new PerformanceObserver((list) => {
      for (const task of list.getEntries()) settle(task.startTime + task.duration);
    }).observe({ type: "longtask" });
  } catch {
    /* no long task timing: DOM changes and requests only */
  }

  // An in-app navigation starts at the click on a navigation link.
  document.addEventListener("click", (event) => {
    if (!event.target.closest?.("nav a")) return;
    Object.assign(probe, { start: performance.now(), h1: null, h1Pending: false, ready: null, quietSince: null });
    oldHeading = heading();
  }, true);
})();
