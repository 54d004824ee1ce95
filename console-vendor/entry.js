// The console's only third-party code: Preact (rendering and hooks) with htm (JSX-like tagged
// templates, so the console needs no compile step of its own).
import { h, render } from "preact";
import htm from "htm";

export { render };
export { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "preact/hooks";
export const html = htm.bind(h);
