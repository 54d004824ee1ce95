// Files picked to go with the next message: a labelled file input styled as a button, and the
// picked files as chips that can be taken off again.

import { formatBytes, html } from "../ui.js";
import { useRef, useState } from "../vendor.js";

let pickerCount = 0;

/** `files`: File[]; `onChange(files)`; `hint` says why it is disabled, when it is. */
export function AttachFiles({ files, onChange, disabled, hint }) {
  const id = useRef(null);
  if (id.current === null) id.current = `attach-${++pickerCount}`;
  // A new input after each pick, so picking the same file again still fires a change.
  const [generation, setGeneration] = useState(0);
  const add = (event) => {
    const picked = [...event.currentTarget.files];
    const known = new Set(files.map((file) => `${file.name}/${file.size}`));
    onChange([...files, ...picked.filter((file) => !known.has(`${file.name}/${file.size}`))]);
    setGeneration((value) => value + 1);
  };
  const remove = (file) => onChange(files.filter((other) => other !== file));
  const hintId = hint ? `${id.current}-hint` : undefined;
  return html`<div class="attach">
    <span class="file-picker">
      <input type="file" id=${id.current} key=${generation} multiple onChange=${add}
        disabled=${disabled} aria-describedby=${hintId} />
      <label for=${id.current} class=${`button secondary${disabled ? " disabled" : ""}`}>Attach files</label>
    </span>
    ${files.length > 0 && html`<ul class="attachments" aria-label="Files to send">
      ${files.map((file) => html`<li class="attachment">
        ${file.name} <span class="muted">${formatBytes(file.size)}</span>
        <button type="button" class="icon" aria-label=${`Remove ${file.name}`} onClick=${() => remove(file)}>×</button>
      </li>`)}
    </ul>`}
    ${hint && html`<small id=${hintId} class="hint">${hint}</small>`}
  </div>`;
}
