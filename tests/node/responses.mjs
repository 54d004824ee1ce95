// The official Node SDK's Responses client against a Threadline server.
//
//   node responses.mjs
//
// Environment: BASE_URL (the server's /v1 URL), API_KEY, MODEL, WATCHDOG_MS.
//
// Streams a response with `responses.stream` (its text deltas, its event types in order, the
// final response), then continues it with `responses.create` and `previous_response_id`, and
// prints ONE JSON line with what it saw. Exits 0 only when the SDK raised nothing.

import OpenAI from 'openai';

const result = { ok: false };
function emit(code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}
const watchdog = setTimeout(() => {
  result.error = 'watchdog: a request hung';
  emit(2);
}, Number(process.env.WATCHDOG_MS ?? 30000));

const client = new OpenAI({
  baseURL: process.env.BASE_URL,
  apiKey: process.env.API_KEY,
  maxRetries: 0,
  timeout: 20000,
});

try {
  const model = process.env.MODEL;
  const stream = client.responses.stream({ model, input: 'Hi', instructions: 'Be brief.' });
  result.deltas = [];
  stream.on('response.output_text.delta', (event) => result.deltas.push(event.delta));
  result.types = [];
  for await (const event of stream) {
    result.types.push(event.type);
  }
  const final = await stream.finalResponse();
  result.final = {
    id: final.id,
    status: final.status,
    output_text: final.output_text,
    total_tokens: final.usage?.total_tokens ?? null,
  };
  const next = await client.responses.create({
    model,
    input: 'And then?',
    previous_response_id: final.id,
  });
  result.next = {
    status: next.status,
    output_text: next.output_text,
    previous_response_id: next.previous_response_id,
  };
  result.ok = true;
  clearTimeout(watchdog);
  emit(0);
} catch (error) {
  result.error = String(error);
  result.stack = error?.stack;
  clearTimeout(watchdog);
  emit(1);
}
