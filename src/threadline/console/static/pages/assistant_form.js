// The form creating or editing an assistant: every field of the Assistants API.

import { post } from "../api.js";
import { Check, describeError, ErrorNote, Field, html, JsonField, MetadataRows, useAction } from "../ui.js";
import { useEffect, useRef, useState } from "../vendor.js";
import {
  createBody,
  formState,
  modifyBody,
  REASONING_EFFORTS,
  requestFields,
  RESPONSE_FORMATS,
} from "./assistant_model.js";
import { FunctionTools } from "./function_tools.js";

const FORMAT_LABELS = {
  auto: "auto (the model decides)",
  text: "text",
  json_object: "json_object (any JSON object)",
  json_schema: "json_schema (JSON following a schema)",
};

/** A Field whose hint turns into the field's error (after a submit). */
function Checked({ error, hint, ...rest }) {
  return html`<${Field} aria-invalid=${error ? "true" : undefined} hint=${error || hint} ...${rest} />`;
}

function modelOptions(models, current) {
  const ids = models.map((model) => model.id);
  if (current && !ids.includes(current)) ids.unshift(current);
  return [{ value: "", label: "Pick a model…" }, ...ids.map((id) => ({ value: id, label: id }))];
}

function storeOptions(stores, current) {
  const options = [{ value: "", label: "None" }];
  for (const store of stores) options.push({ value: store.id, label: store.name ? `${store.name} (${store.id})` : store.id });
  if (current && !stores.some((store) => store.id === current)) options.push({ value: current, label: current });
  return options;
}

function ToolsFieldset({ form, set, errors, shown, tried }) {
  return html`<fieldset>
    <legend>Tools</legend>
    <div class="tool-checks">
      <${Check} label="Code interpreter" checked=${form.codeInterpreter}
        onChange=${(codeInterpreter) => set({ codeInterpreter })} />
      <${Check} label="File search" checked=${form.fileSearch} onChange=${(fileSearch) => set({ fileSearch })} />
    </div>
    ${form.fileSearch && html`<div class="grid-2 file-search-settings">
      <${Checked} label="File search max results" type="number" inputmode="numeric" min="1" max="50" step="1"
        placeholder="20" value=${form.searchMaxResults} onInput=${(searchMaxResults) => set({ searchMaxResults })}
        error=${shown.searchMaxResults} hint="Chunks given to the model per search, 1 to 50. Blank: 20." />
      <${Checked} label="File search score threshold" type="number" inputmode="decimal" min="0" max="1" step="0.01"
        placeholder="0" value=${form.searchThreshold} onInput=${(searchThreshold) => set({ searchThreshold })}
        error=${shown.searchThreshold} hint="Chunks scoring below it are left out, 0 to 1." />
    </div>`}
    <${FunctionTools} rows=${form.functions} errors=${errors} showErrors=${tried}
      onChange=${(functions) => set({ functions })} />
  </fieldset>`;
}

function ResourcesFieldset({ form, set, stores, shown }) {
  return html`<fieldset>
    <legend>Tool resources</legend>
    <div class="grid-2">
      <${Checked} label="Code interpreter file IDs" as="textarea" rows="2" class="code" spellcheck="false"
        value=${form.codeFileIds} onInput=${(codeFileIds) => set({ codeFileIds })}
        error=${shown.codeFileIds} hint="IDs of uploaded files (file-…), one per line; at most 20." />
      <${Field} label="File search vector store" as="select" options=${storeOptions(stores, form.vectorStoreId)}
        value=${form.vectorStoreId} onInput=${(vectorStoreId) => set({ vectorStoreId })}
        hint="The store file_search reads (one per assistant)." />
    </div>
  </fieldset>`;
}

function ResponseFormat({ form, set, errors, shown, tried }) {
  const options = RESPONSE_FORMATS.map((value) => ({ value, label: FORMAT_LABELS[value] }));
  return html`<${Field} label="Response format" as="select" options=${options} value=${form.responseFormat}
      onInput=${(responseFormat) => set({ responseFormat })} />
    ${form.responseFormat === "json_schema" && html`
      <div class="grid-2">
        <${Checked} label="Schema name" class="code" spellcheck="false" maxlength="64" value=${form.schemaName}
          onInput=${(schemaName) => set({ schemaName })} error=${shown.schemaName} hint="Letters, digits, _ and -." />
        <${Field} label="Schema description" value=${form.schemaDescription}
          onInput=${(schemaDescription) => set({ schemaDescription })} hint="What the answer is, for the model." />
      </div>
      <${Check} label="Strict schema (the answer follows it exactly)" checked=${form.schemaStrict}
        onChange=${(schemaStrict) => set({ schemaStrict })} />
      <${JsonField} label="JSON schema" rows="8" value=${form.schemaText} onInput=${(schemaText) => set({ schemaText })}
        error=${errors.schema} showError=${tried} hint="The schema the answer follows, as a JSON object." />`}`;
}

function SettingsFieldset({ form, set, errors, shown, tried }) {
  return html`<fieldset>
    <legend>Model settings</legend>
    <div class="grid-3">
      <${Checked} label="Temperature" type="number" inputmode="decimal" step="0.01" min="0" max="2"
        placeholder="1" value=${form.temperature} onInput=${(temperature) => set({ temperature })}
        error=${shown.temperature} hint="0 to 2. Blank: 1." />
      <${Checked} label="Top P" type="number" inputmode="decimal" step="0.01" min="0" max="1"
        placeholder="1" value=${form.topP} onInput=${(topP) => set({ topP })}
        error=${shown.topP} hint="0 to 1. Blank: 1." />
      <${Field} label="Reasoning effort" as="select" value=${form.reasoningEffort}
        options=${[{ value: "", label: "Not set" }, ...REASONING_EFFORTS]}
        onInput=${(reasoningEffort) => set({ reasoningEffort })} hint="For reasoning models only." />
    </div>
    <${ResponseFormat} form=${form} set=${set} errors=${errors} shown=${shown} tried=${tried} />
  </fieldset>`;
}

/**
 * Creates an assistant (`assistant` null) or edits one: `onSaved(assistant)` after the server
 * accepted it. `models` and `stores` fill the selects.
 */
export function AssistantForm({ assistant, models, stores, onSaved, onCancel }) {
  const [form, setForm] = useState(() => formState(assistant));
  const [tried, setTried] = useState(false);
  const [refusals, setRefusals] = useState(0);
  const formRef = useRef(null);
  const action = useAction();
  const set = (change) => setForm((previous) => ({ ...previous, ...change }));
  const result = requestFields(form);
  const errors = result.errors || {};
  const shown = tried ? errors : {};
  // A refused submit takes the focus to the first field that says what is wrong.
  useEffect(() => {
    if (refusals) formRef.current?.querySelector('[aria-invalid="true"]')?.focus();
  }, [refusals]);

  const submit = (event) => {
    event.preventDefault();
    setTried(true);
    if (result.errors) {
      setRefusals((count) => count + 1);
      return;
    }
    action.run(async () => {
      try {
        if (!assistant) {
          onSaved(await post("/v1/assistants", createBody(result.fields)));
          return;
        }
        const body = modifyBody(result.fields, assistant);
        onSaved(Object.keys(body).length ? await post(`/v1/assistants/${encodeURIComponent(assistant.id)}`, body) : assistant);
      } catch (error) {
        throw describeError(error);
      }
    });
  };

  return html`<form class="assistant-form" ref=${formRef} onSubmit=${submit} novalidate>
    <div class="grid-2">
      <${Field} label="Name" value=${form.name} maxlength="256" onInput=${(name) => set({ name })} />
      <${Checked} label="Model" as="select" options=${modelOptions(models, form.model)} value=${form.model}
        onInput=${(model) => set({ model })} error=${shown.model} required />
    </div>
    <${Field} label="Description" value=${form.description} maxlength="512"
      onInput=${(description) => set({ description })} />
    <${Field} label="Instructions" as="textarea" rows="6" value=${form.instructions}
      onInput=${(instructions) => set({ instructions })} hint="The system prompt of every run with this assistant." />
    <${ToolsFieldset} form=${form} set=${set} errors=${errors} shown=${shown} tried=${tried} />
    <${ResourcesFieldset} form=${form} set=${set} stores=${stores} shown=${shown} />
    <${SettingsFieldset} form=${form} set=${set} errors=${errors} shown=${shown} tried=${tried} />
    <${MetadataRows} rows=${form.metadata} onChange=${(metadata) => set({ metadata })} />
    ${shown.metadata && html`<p class="note error">${shown.metadata}</p>`}
    <div class="form-footer">
      ${tried && result.errors && html`<p class="note error" role="alert">Some fields need fixing: see the messages above.</p>`}
      <${ErrorNote} error=${action.error} />
      <div class="form-actions">
        <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
        <button type="submit" disabled=${action.pending}>${assistant ? "Save changes" : "Create assistant"}</button>
      </div>
    </div>
  </form>`;
}
