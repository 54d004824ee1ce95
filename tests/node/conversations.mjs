// The official Node SDK's Conversations client against a Threadline server.
//
//   node conversations.mjs
//
// Environment: BASE_URL (the server's /v1 URL), API_KEY, CONVERSATION_ID, WATCHDOG_MS.
//
// Lists the conversation's items with `conversations.items.list` (auto-pagination over pages of
// two, oldest first, then one page newest first) and prints ONE JSON line with what it saw and
// the requests the SDK sent. Exits 0 only when the SDK raised nothing.

import OpenAI from 'openai';

const result = { ok: false, requests: [] };
function emit(code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}
const watchdog = setTimeout(() => {
  result.error = 'watchdog: a request hung';
  emit(2);
}, Number(process.env.WATCHDOG_MS ?? 30000));

async function recordingFetch(url, init) {
  const parsed = new URL(url);
  const entry = { method: init?.method ?? 'GET', path: parsed.pathname, query: parsed.search };
  result.requests.push(entry);
  const response = await fetch(url, init);
  entry.status = response.status;
  return response;
}

const client = new OpenAI({
  baseURL: process.env.BASE_URL,
  apiKey: process.env.API_KEY,
  maxRetries: 0,
  timeout: 20000,
  fetch: recordingFetch,
});

try {
  const conversationId = process.env.CONVERSATION_ID;
  result.ascending = [];
  for await (const item of client.conversations.items.list(conversationId, {
    limit: 2,
    order: 'asc',
  })) {
    result.ascending.push({ id: item.id, type: item.type, role: item.role ?? null });
  }
  const page = await client.conversations.items.list(conversationId, { limit: 2 });
  result.newest = page.data.map((item) => item.id);
  result.has_more = page.has_more;
  result.ok = true;
  clearTimeout(watchdog);
  emit(0);
} catch (error) {
  result.error = String(error);
  result.stack = error?.stack;
  clearTimeout(watchdog);
  emit(1);
}
