import { html, PageHeader } from "../ui.js";

export default function Page() {
  return html`<${PageHeader} title="Assistants" />`;
}
