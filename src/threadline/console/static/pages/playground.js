// The Playground: talk to one of the project's assistants (a thread and streamed runs) or to a
// model through the Responses API. Each mode lives in its own module; this page switches them.

import { html, PageHeader } from "../ui.js";
import { useState } from "../vendor.js";
import AssistantsPlayground from "./playground_assistants.js";
import ResponsesPlayground from "./playground_responses.js";

const MODES = [
  ["assistants", "Assistants"],
  ["responses", "Responses"],
];

/** A segmented control: radio buttons that look like one row of buttons. */
function ModeSwitch({ mode, onChange }) {
  return html`<div class="segmented-field">
    <span id="playground-api" class="segmented-label">API</span>
    <div class="segmented" role="radiogroup" aria-labelledby="playground-api">
      ${MODES.map(([value, label]) => html`<label class="segment" key=${value}>
        <input type="radio" name="playground-api" value=${value} checked=${mode === value}
          onChange=${() => onChange(value)} />
        <span>${label}</span>
      </label>`)}
    </div>
  </div>`;
}

export default function Page() {
  const [mode, setMode] = useState("assistants");
  const description = mode === "assistants"
    ? "Chat with an assistant of this project: each message is a real, streamed run on a thread."
    : "Chat with a model through the Responses API: streamed, stored, chained responses.";
  return html`<div class="playground-page">
    <${PageHeader} title="Playground" description=${description}>
      <${ModeSwitch} mode=${mode} onChange=${setMode} />
    <//>
    ${mode === "assistants" ? html`<${AssistantsPlayground} key="assistants" />` : html`<${ResponsesPlayground} key="responses" />`}
  </div>`;
}
