// The official Node SDK of Anthropic (@anthropic-ai/sdk) against Threadline's /v1/messages.
//
//   node messages.mjs
//
// Environment: BASE_URL (the server's root: the SDK appends /v1/messages), API_KEY, MODEL,
// WATCHDOG_MS.
//
// Creates a message, streams one with a tool (`messages.stream`: its event types in order, the
// `text` and `inputJson` events, `finalMessage()`), counts tokens, and prints ONE JSON line with
// what it saw. Exits 0 only when the SDK raised nothing.

import Anthropic from '@anthropic-ai/sdk';

const result = { ok: false };
function emit(code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}
const watchdog = setTimeout(() => {
  result.error = 'watchdog: a request hung';
  emit(2);
}, Number(process.env.WATCHDOG_MS ?? 30000));

const client = new Anthropic({
  baseURL: process.env.BASE_URL,
  apiKey: process.env.API_KEY,
  maxRetries: 0,
  timeout: 20000,
});
const model = process.env.MODEL;
const weather = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } } },
};

try {
  const created = await client.messages.create({
    model,
    max_tokens: 64,
    system: 'Be brief.',
    messages: [{ role: 'user', content: 'Hi' }],
  });
  result.created = {
    id: created.id,
    model: created.model,
    text: created.content.map((block) => block.text).join(''),
    stop_reason: created.stop_reason,
    usage: created.usage,
  };

  const stream = client.messages.stream({
    model,
    max_tokens: 64,
    messages: [{ role: 'user', content: 'Weather in Paris?' }],
    tools: [weather],
  });
  result.texts = [];
  result.json = [];
  stream.on('text', (delta) => result.texts.push(delta));
  stream.on('inputJson', (partial, snapshot) => result.json.push([partial, snapshot]));
  result.types = [];
  for await (const event of stream) {
    result.types.push(event.type);
  }
  const final = await stream.finalMessage();
  result.final = {
    content: final.content,
    stop_reason: final.stop_reason,
    usage: final.usage,
  };

  const counted = await client.messages.countTokens({
    model,
    messages: [{ role: 'user', content: 'Hi' }],
    tools: [weather],
  });
  result.counted = counted.input_tokens;
  result.ok = true;
  clearTimeout(watchdog);
  emit(0);
} catch (error) {
  result.error = String(error);
  result.stack = error?.stack;
  clearTimeout(watchdog);
  emit(1);
}
