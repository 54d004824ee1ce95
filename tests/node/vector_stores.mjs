// The official Node SDK's vector-store helpers against a Threadline server.
//
//   node vector_stores.mjs
//
// Environment: BASE_URL (the server's /v1 URL), API_KEY, WATCHDOG_MS.
//
// Runs `vectorStores.files.uploadAndPoll` and `vectorStores.fileBatches.uploadAndPoll` (which poll
// `status`, where the Python SDK polls counts) and prints ONE JSON line with what they returned
// and the poll hints the server sent. Exits 0 only when the helpers raised nothing.

import OpenAI, { toFile } from 'openai';

const result = { ok: false, requests: [] };
function emit(code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
}
const watchdog = setTimeout(() => {
  result.error = 'watchdog: a helper hung';
  emit(2);
}, Number(process.env.WATCHDOG_MS ?? 30000));

async function recordingFetch(url, init) {
  const entry = { method: init?.method ?? 'GET', path: new URL(url).pathname };
  result.requests.push(entry);
  const response = await fetch(url, init);
  entry.status = response.status;
  entry.poll_after_ms = response.headers.get('openai-poll-after-ms');
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
  const store = await client.vectorStores.create({ name: 'node' });
  const file = await client.vectorStores.files.uploadAndPoll(
    store.id,
    await toFile(Buffer.from('The capybara is the largest living rodent.'), 'capybara.md'),
    { pollIntervalMs: 50 },
  );
  result.file = { id: file.id, status: file.status, vector_store_id: file.vector_store_id };
  const batch = await client.vectorStores.fileBatches.uploadAndPoll(
    store.id,
    {
      files: [
        await toFile(Buffer.from('Mount Etna is a volcano.'), 'etna.txt'),
        await toFile(Buffer.from('%PDF-1.4 not really'), 'fake.pdf'),
      ],
    },
    { pollIntervalMs: 50 },
  );
  result.batch = { status: batch.status, file_counts: batch.file_counts };
  const after = await client.vectorStores.retrieve(store.id);
  result.store = { status: after.status, file_counts: after.file_counts };
  const page = await client.vectorStores.search(store.id, { query: 'largest rodent' });
  result.search = page.data.map((item) => ({ file_id: item.file_id, filename: item.filename }));
  result.ok = true;
  clearTimeout(watchdog);
  emit(0);
} catch (error) {
  result.error = String(error);
  result.stack = error?.stack;
  clearTimeout(watchdog);
  emit(1);
}
