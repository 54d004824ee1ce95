// An assistant as the form edits it, and back: the request body of POST /v1/assistants (create)
// or of POST /v1/assistants/{id} (only the fields that changed). No rendering here.

import { metadataFromRows, metadataRows, parseJsonText } from "../ui.js";

export const REASONING_EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];
export const RESPONSE_FORMATS = ["auto", "text", "json_object", "json_schema"];
const MAX_CODE_FILES = 20;

let functionKeys = 0;

/** A function tool's row in the form (`key` keeps the row's inputs when one above is removed). */
export function functionRow(tool = null) {
  const fn = tool?.function || {};
  return {
    key: ++functionKeys,
    name: fn.name || "",
    description: fn.description || "",
    parameters: fn.parameters ? JSON.stringify(fn.parameters, null, 2) : "",
    strict: Boolean(fn.strict),
  };
}

function numberText(value) {
  return value === null || value === undefined ? "" : String(value);
}

/** The form's state for an assistant (or a blank one for a new assistant). */
export function formState(assistant = null) {
  const tools = assistant?.tools || [];
  const format = assistant?.response_format || "auto";
  const schema = typeof format === "object" && format.type === "json_schema" ? format.json_schema : null;
  const resources = assistant?.tool_resources || {};
  const search = tools.find((tool) => tool.type === "file_search");
  return {
    name: assistant?.name || "",
    description: assistant?.description || "",
    model: assistant?.model || "",
    instructions: assistant?.instructions || "",
    // The server's own settings of a tool (file_search's ranking) go back unchanged.
    codeInterpreter: tools.some((tool) => tool.type === "code_interpreter"),
    fileSearch: Boolean(search),
    searchMaxResults: numberText(search?.file_search?.max_num_results),
    searchThreshold: numberText(search?.file_search?.ranking_options?.score_threshold),
    // Not editable here, but sent back as it was.
    searchRanker: search?.file_search?.ranking_options?.ranker || null,
    functions: tools.filter((tool) => tool.type === "function").map(functionRow),
    codeFileIds: (resources.code_interpreter?.file_ids || []).join("\n"),
    vectorStoreId: resources.file_search?.vector_store_ids?.[0] || "",
    temperature: assistant ? numberText(assistant.temperature) : "",
    topP: assistant ? numberText(assistant.top_p) : "",
    responseFormat: typeof format === "string" ? format : format.type,
    schemaName: schema?.name || "",
    schemaDescription: schema?.description || "",
    schemaText: schema?.schema ? JSON.stringify(schema.schema, null, 2) : "",
    schemaStrict: Boolean(schema?.strict),
    metadata: metadataRows(assistant?.metadata),
    reasoningEffort: assistant?.reasoning_effort || "",
  };
}

function parseNumber(text, label, max, { min = 0, integer = false } = {}) {
  if (!text.trim()) return { value: null };
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    return { error: `${label} is ${integer ? "a whole number" : "a number"} from ${min} to ${max}.` };
  }
  return { value };
}

/** The file_search tool with its settings, when they differ from the server's defaults. */
function fileSearchTool(form, errors) {
  const tool = { type: "file_search" };
  const max = parseNumber(form.searchMaxResults, "Max results", 50, { min: 1, integer: true });
  if (max.error) errors.searchMaxResults = max.error;
  const threshold = parseNumber(form.searchThreshold, "Score threshold", 1);
  if (threshold.error) errors.searchThreshold = threshold.error;
  const settings = {};
  if (max.value !== null) settings.max_num_results = max.value;
  if (threshold.value !== null || form.searchRanker) {
    settings.ranking_options = { score_threshold: threshold.value ?? 0 };
    if (form.searchRanker) settings.ranking_options.ranker = form.searchRanker;
  }
  if (Object.keys(settings).length) tool.file_search = settings;
  return tool;
}

/** The JSON each function's parameters box holds: {error} per row key, for the fields. */
export function functionErrors(form) {
  const errors = {};
  for (const row of form.functions) {
    const parsed = parseJsonText(row.parameters);
    if (parsed.error) errors[row.key] = parsed.error;
  }
  return errors;
}

export function schemaError(form) {
  if (form.responseFormat !== "json_schema") return null;
  if (!form.schemaText.trim()) return "A JSON schema is required for the json_schema format.";
  return parseJsonText(form.schemaText).error || null;
}

/**
 * Every field as the API takes it, or {errors: {field: message}} when something typed is wrong.
 * Blank optional fields are null (an explicit null resets a field when editing).
 */
export function requestFields(form) {
  const errors = {};
  const tools = [];
  if (form.codeInterpreter) tools.push({ type: "code_interpreter" });
  if (form.fileSearch) tools.push(fileSearchTool(form, errors));
  const names = new Set();
  for (const [index, row] of form.functions.entries()) {
    const name = row.name.trim();
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(name)) {
      errors[`function-${row.key}`] = `Function ${index + 1} needs a name of letters, digits, _ or - (at most 64).`;
    } else if (names.has(name)) {
      errors[`function-${row.key}`] = `Two functions are named ${name}.`;
    }
    names.add(name);
    const parameters = parseJsonText(row.parameters);
    if (parameters.error) errors[`parameters-${row.key}`] = parameters.error;
    const fn = { name };
    if (row.description.trim()) fn.description = row.description;
    if (parameters.value !== undefined) fn.parameters = parameters.value;
    if (row.strict) fn.strict = true;
    tools.push({ type: "function", function: fn });
  }
  const fileIds = form.codeFileIds.split(/[\s,]+/).filter(Boolean);
  if (fileIds.length > MAX_CODE_FILES) errors.codeFileIds = `At most ${MAX_CODE_FILES} files.`;
  const temperature = parseNumber(form.temperature, "Temperature", 2);
  if (temperature.error) errors.temperature = temperature.error;
  const topP = parseNumber(form.topP, "Top P", 1);
  if (topP.error) errors.topP = topP.error;
  let responseFormat = form.responseFormat;
  if (form.responseFormat === "text" || form.responseFormat === "json_object") {
    responseFormat = { type: form.responseFormat };
  } else if (form.responseFormat === "json_schema") {
    const problem = schemaError(form);
    if (problem) errors.schema = problem;
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(form.schemaName.trim())) {
      errors.schemaName = "The schema needs a name of letters, digits, _ or - (at most 64).";
    }
    const spec = { name: form.schemaName.trim(), schema: parseJsonText(form.schemaText).value };
    if (form.schemaDescription.trim()) spec.description = form.schemaDescription;
    if (form.schemaStrict) spec.strict = true;
    responseFormat = { type: "json_schema", json_schema: spec };
  }
  const metadata = metadataFromRows(form.metadata);
  if (metadata.error) errors.metadata = metadata.error;
  if (!form.model) errors.model = "Pick a model.";
  if (Object.keys(errors).length) return { errors };
  return {
    fields: {
      name: form.name.trim() || null,
      description: form.description.trim() || null,
      model: form.model,
      instructions: form.instructions || null,
      tools,
      tool_resources: {
        code_interpreter: { file_ids: fileIds },
        file_search: { vector_store_ids: form.vectorStoreId ? [form.vectorStoreId] : [] },
      },
      temperature: temperature.value,
      top_p: topP.value,
      response_format: responseFormat,
      metadata: metadata.metadata,
      reasoning_effort: form.reasoningEffort || null,
    },
  };
}

function isEmpty(value) {
  if (value === null || value === "auto") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.values(value).every(isEmpty);
  return false;
}

/** The body of a create: the fields that say something (the server fills in the rest). */
export function createBody(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([name, value]) => name === "model" || !isEmpty(value)));
}

/** The body of an edit: only the fields that differ from the assistant as it was loaded. */
export function modifyBody(fields, original) {
  const before = requestFields(formState(original)).fields || {};
  return Object.fromEntries(
    Object.entries(fields).filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(before[name])),
  );
}
