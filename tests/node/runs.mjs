// The official Node SDK's Assistants run helpers against a Threadline server.
//
//   node runs.mjs <scenario>
//
// Scenarios: stream-text, create-and-poll, tool-round-trip, create-and-run-stream.
// Environment: BASE_URL (the server's /v1 URL), API_KEY, ASSISTANT_ID, THREAD_ID (not used by
// create-and-run-stream), USER_TEXT (create-and-run-stream's first message), WATCHDOG_MS.
//
// Prints ONE JSON line: what the helpers observed (events in order, per stream; final runs; the
// text accumulated from `textDelta`; tool calls) and the HTTP requests the SDK sent. Exits 0 only
// when the helpers raised nothing; otherwise the line carries `error` and `stack` and the exit
// code is 1 (2 if the watchdog fired: a helper hung, e.g. on a response left open after [DONE]).

import OpenAI from 'openai';

const scenario = process.argv[2];
const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const result = { scenario, ok: false, streams: [], requests: [] };

function emit(code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}

const watchdogMs = Number(process.env.WATCHDOG_MS ?? 30000);
const watchdog = setTimeout(() => {
  result.error = `watchdog: no result after ${watchdogMs} ms (a helper hung)`;
  emit(2);
}, watchdogMs);

// Every HTTP request the SDK sends, with the answer's status and poll hint.
async function recordingFetch(url, init) {
  const started = Date.now();
  const entry = { method: init?.method ?? 'GET', path: new URL(url).pathname };
  result.requests.push(entry);
  const response = await fetch(url, init);
  entry.status = response.status;
  entry.content_type = response.headers.get('content-type');
  entry.poll_after_ms = response.headers.get('openai-poll-after-ms');
  entry.ms = Date.now() - started;
  return response;
}

function client() {
  return new OpenAI({
    baseURL: env('BASE_URL'),
    apiKey: env('API_KEY'),
    maxRetries: 0,
    timeout: 20000,
    fetch: recordingFetch,
  });
}

function summarizeRun(run) {
  if (!run) return null;
  return {
    id: run.id,
    object: run.object,
    status: run.status,
    thread_id: run.thread_id,
    assistant_id: run.assistant_id,
    required_action: run.required_action ?? null,
    last_error: run.last_error ?? null,
    usage: run.usage ?? null,
  };
}

function summarizeMessage(message) {
  return {
    id: message.id,
    role: message.role,
    status: message.status,
    run_id: message.run_id,
    text: message.content
      .filter((part) => part.type === 'text')
      .map((part) => part.text.value)
      .join(''),
    annotations: message.content
      .filter((part) => part.type === 'text')
      .flatMap((part) => part.text.annotations.map((a) => a.type)),
    parts: message.content.map((part) => part.type),
  };
}

// Drives one AssistantStream to its end and records what its callbacks and accessors give.
async function observe(stream) {
  const seen = {
    events: [],
    ids: [],
    text_deltas: [],
    text_done: [],
    messages_done: [],
    tool_calls_created: [],
    tool_calls_done: [],
    run_steps_done: [],
  };
  result.streams.push(seen);
  stream
    .on('event', (event) => {
      seen.events.push(event.event);
      seen.ids.push(event.data?.id ?? null);
    })
    .on('textDelta', (delta) => seen.text_deltas.push(delta.value ?? ''))
    .on('textDone', (text) => seen.text_done.push(text.value))
    .on('messageDone', (message) => seen.messages_done.push(summarizeMessage(message)))
    .on('toolCallCreated', (call) => seen.tool_calls_created.push(call.id))
    .on('toolCallDone', (call) =>
      seen.tool_calls_done.push({
        id: call.id,
        type: call.type,
        function: call.function ?? null,
        code_input: call.code_interpreter?.input ?? null,
      }),
    )
    .on('runStepDone', (step) =>
      seen.run_steps_done.push({ id: step.id, type: step.type, status: step.status }),
    );
  const run = await stream.finalRun();
  seen.final_run = summarizeRun(run);
  seen.final_messages = (await stream.finalMessages()).map(summarizeMessage);
  seen.final_run_steps = (await stream.finalRunSteps()).map((step) => ({
    id: step.id,
    type: step.type,
    status: step.status,
  }));
  seen.text = seen.text_deltas.join('');
  return run;
}

// The output submitted for a call: the test checks the model receives exactly this.
const outputFor = (call) => `output of ${call.function.name} (${call.id})`;

function toolOutputs(run) {
  const calls = run.required_action?.submit_tool_outputs?.tool_calls ?? [];
  if (calls.length === 0) throw new Error('requires_action without tool calls');
  return calls.map((call) => ({ tool_call_id: call.id, output: outputFor(call) }));
}

async function streamText(openai) {
  await observe(
    openai.beta.threads.runs.stream(env('THREAD_ID'), { assistant_id: env('ASSISTANT_ID') }),
  );
}

// runs.stream, then submitToolOutputsStream for every requires_action, to a finished run.
async function toolRoundTrip(openai) {
  const threadId = env('THREAD_ID');
  let run = await observe(
    openai.beta.threads.runs.stream(threadId, { assistant_id: env('ASSISTANT_ID') }),
  );
  result.submitted = [];
  for (let round = 0; run.status === 'requires_action'; round++) {
    if (round >= 5) throw new Error('still requires_action after 5 rounds');
    const tool_outputs = toolOutputs(run);
    result.submitted.push(tool_outputs);
    run = await observe(
      openai.beta.threads.runs.submitToolOutputsStream(run.id, { thread_id: threadId, tool_outputs }),
    );
  }
}

// createAndPoll (and submitToolOutputsAndPoll while the run requires action), paced only by the
// server's openai-poll-after-ms (the SDK's own default is 5 s).
async function createAndPoll(openai) {
  const threadId = env('THREAD_ID');
  const started = Date.now();
  let run = await openai.beta.threads.runs.createAndPoll(threadId, {
    assistant_id: env('ASSISTANT_ID'),
  });
  result.polled = [summarizeRun(run)];
  result.submitted = [];
  for (let round = 0; run.status === 'requires_action'; round++) {
    if (round >= 5) throw new Error('still requires_action after 5 rounds');
    const tool_outputs = toolOutputs(run);
    result.submitted.push(tool_outputs);
    run = await openai.beta.threads.runs.submitToolOutputsAndPoll(run.id, {
      thread_id: threadId,
      tool_outputs,
    });
    result.polled.push(summarizeRun(run));
  }
  result.elapsed_ms = Date.now() - started;
  result.final_run = summarizeRun(run);
  const messages = await openai.beta.threads.messages.list(threadId, { order: 'asc' });
  result.messages = messages.data.map(summarizeMessage);
}

async function createAndRunStream(openai) {
  const stream = openai.beta.threads.createAndRunStream({
    assistant_id: env('ASSISTANT_ID'),
    thread: { messages: [{ role: 'user', content: env('USER_TEXT', 'Hello from Node') }] },
  });
  stream.on('event', (event) => {
    if (event.event === 'thread.created') result.thread_id = event.data.id;
  });
  await observe(stream);
}

const scenarios = {
  'stream-text': streamText,
  'create-and-poll': createAndPoll,
  'tool-round-trip': toolRoundTrip,
  'create-and-run-stream': createAndRunStream,
};

try {
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${JSON.stringify(scenario)}`);
  await run(client());
  result.ok = true;
} catch (error) {
  result.error = `${error?.constructor?.name ?? 'Error'}: ${error?.message ?? error}`;
  result.stack = error?.stack ?? null;
  if (error?.status !== undefined) result.status = error.status;
}
clearTimeout(watchdog);
emit(result.ok ? 0 : 1);
