// The function tools of an assistant: a list of functions (name, description, parameters as
// JSON, strict), each removable, and a button adding one.

import { Check, Field, html, JsonField } from "../ui.js";
import { functionRow } from "./assistant_model.js";

const PARAMETERS_HINT = "A JSON schema object, e.g. {\"type\": \"object\", \"properties\": {}}. Blank: no parameters.";

function FunctionEditor({ row, index, errors, showErrors, onChange, onRemove }) {
  const set = (change) => onChange({ ...row, ...change });
  const nameError = showErrors ? errors[`function-${row.key}`] : undefined;
  return html`<fieldset class="function-tool">
    <legend>Function ${index + 1}${row.name ? html`: <code>${row.name}</code>` : ""}</legend>
    <div class="grid-2">
      <${Field} label="Function name" value=${row.name} onInput=${(name) => set({ name })}
        class="code" spellcheck="false" maxlength="64" aria-invalid=${nameError ? "true" : undefined}
        hint=${nameError || "Letters, digits, _ and -."} />
      <${Field} label="Function description" value=${row.description}
        onInput=${(description) => set({ description })} />
    </div>
    <${JsonField} label="Parameters (JSON)" rows="5" value=${row.parameters}
      onInput=${(parameters) => set({ parameters })} error=${errors[`parameters-${row.key}`]}
      showError=${showErrors} hint=${PARAMETERS_HINT} />
    <div class="function-tool-footer">
      <${Check} label="Strict (the model follows the schema exactly)" checked=${row.strict}
        onChange=${(strict) => set({ strict })} />
      <button type="button" class="danger" onClick=${onRemove}
        aria-label=${`Remove function ${index + 1}${row.name ? ` ${row.name}` : ""}`}>Remove function</button>
    </div>
  </fieldset>`;
}

/** `rows`: the form's function rows; `errors`: the form's errors by field (JSON ones shown when
 * their field is left, the others once `showErrors`, after a submit). */
export function FunctionTools({ rows, errors, showErrors, onChange }) {
  const replace = (key, next) => onChange(rows.map((row) => (row.key === key ? next : row)));
  const remove = (key) => onChange(rows.filter((row) => row.key !== key));
  return html`<div class="function-tools">
    <h3>Functions</h3>
    ${rows.length === 0 && html`<p class="hint">No functions. A run that calls one waits for your tool outputs.</p>`}
    ${rows.map((row, index) => html`<${FunctionEditor} key=${row.key} row=${row} index=${index}
      errors=${errors} showErrors=${showErrors}
      onChange=${(next) => replace(row.key, next)} onRemove=${() => remove(row.key)} />`)}
    <button type="button" class="secondary" onClick=${() => onChange([...rows, functionRow()])}
      disabled=${rows.length >= 128}>Add function</button>
  </div>`;
}
