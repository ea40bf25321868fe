// Replays recorded provider responses through the official openai Node SDK (client.openai_node).
//
// Input (stdin, JSON):
//   {"exchanges": {<name>: {"status": int, "headers": {str: str}, "body_b64": str}},
//    "steps": [{"name": <probe>, "call": <call>, "params": {...}, "serve": [<exchange name>, ...]}]}
// Output (stdout, one JSON line):
//   {"node": str, "sdk": str, "sdk_engines": str|null, "control": {"ok", "error"},
//    "steps": [{"name", "call", "ok": bool, "error": str|null, "observed": {...}}]}
//
// Every request the SDK makes goes to a custom `fetch` (passed to `new OpenAI({fetch})`) that
// answers with the next recorded response of the step: no network, no server. The script only
// runs the SDK and reports what it handed to application code; checks/sdk_replay.py compares that
// with the wire and decides the verdict. The calls:
//   create         chat.completions.create(params)                       -> the completion
//   create_stream  chat.completions.create({...params, stream: true})    -> chunks, as iterated
//   stream_helper  chat.completions.stream(params) (ChatCompletionStream) -> events + finalChatCompletion()
//   run_tools      chat.completions.runTools(params) with recording tool functions; the first
//                  request gets the recorded response, the follow-up gets a canned final answer
//   embeddings     embeddings.create(params without encoding_format)     -> the SDK asks for
//                  base64 itself and decodes it to numbers
// A "control" replay of canned, known-good responses runs first: if the SDK cannot handle those,
// the environment is broken (wrong Node, broken install), and no step says anything about the
// provider.

import OpenAI from 'openai';
import { VERSION } from 'openai/version';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// The SDK logs through console; stdout carries our JSON only.
console.log = console.info = console.debug = console.warn = console.error;

const HOP_HEADERS = new Set(['content-encoding', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);
const MAX_ERROR_CHARS = 2000;
const MAX_CHUNKS_REPORTED = 5000;
const CANNED_FINAL = {
  id: 'chatcmpl-replay-final',
  object: 'chat.completion',
  created: 0,
  model: 'replay',
  choices: [{ index: 0, message: { role: 'assistant', content: 'replay: final answer' }, finish_reason: 'stop', logprobs: null }],
};

function sdkEngines() {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve('openai').replace(/index\.js$/, 'package.json');
    return JSON.parse(readFileSync(path, 'utf8')).engines?.node ?? null;
  } catch {
    return null;
  }
}

function errorText(err) {
  if (err == null) return String(err);
  const name = err.constructor?.name || err.name || 'Error';
  const text = `${name}: ${err.message ?? String(err)}`;
  return text.length > MAX_ERROR_CHARS ? text.slice(0, MAX_ERROR_CHARS) + '…' : text;
}

/** A recorded (or canned) response as a fetch Response. */
function toResponse(rec) {
  const headers = new Headers();
  for (const [k, v] of Object.entries(rec.headers || {})) {
    if (HOP_HEADERS.has(k.toLowerCase())) continue;
    try {
      headers.append(k, v);
    } catch {
      // A header value fetch refuses (control characters): a browser or undici would drop it too.
    }
  }
  const status = rec.status || 200;
  const body = [101, 204, 205, 304].includes(status) ? null : Buffer.from(rec.body_b64 || '', 'base64');
  return new Response(body, { status, headers });
}

function canned(obj, contentType = 'application/json') {
  return { status: 200, headers: { 'content-type': contentType }, body_b64: Buffer.from(obj).toString('base64') };
}

/** A client whose fetch serves `queue` in order and records what the SDK sent. */
function replayClient(queue) {
  const sent = [];
  let extra = null;
  const fetch = async (url, init = {}) => {
    const u = new URL(typeof url === 'string' ? url : url.url ?? String(url));
    let body = init.body ?? null;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        // keep the text
      }
    } else if (body != null) {
      body = `<${body.constructor?.name ?? typeof body} body>`;
    }
    sent.push({ method: init.method ?? 'GET', path: u.pathname, body });
    const rec = queue[sent.length - 1];
    if (rec === undefined) {
      extra = `the SDK sent an unexpected request #${sent.length} (${init.method ?? 'GET'} ${u.pathname}); only ${queue.length} response(s) were recorded`;
      throw new Error(extra);
    }
    return toResponse(rec);
  };
  const client = new OpenAI({ apiKey: 'replay', baseURL: 'http://replay.invalid/v1', fetch, maxRetries: 0, timeout: 20000 });
  return { client, sent, extraRequest: () => extra };
}

const CALLS = {
  async create(client, params) {
    const { stream: _s, ...rest } = params;
    const completion = await client.chat.completions.create(rest);
    return { completion };
  },

  async create_stream(client, params) {
    const stream = await client.chat.completions.create({ ...params, stream: true });
    const chunks = [];
    let count = 0;
    for await (const chunk of stream) {
      count += 1;
      if (chunks.length < MAX_CHUNKS_REPORTED) chunks.push(chunk);
    }
    return { chunk_count: count, chunks };
  },

  async stream_helper(client, params) {
    const { stream: _s, ...rest } = params;
    const runner = client.chat.completions.stream(rest);
    const observed = { chunk_count: 0, content_deltas: '', content_done: null, tool_calls_done: [] };
    runner.on('chunk', () => {
      observed.chunk_count += 1;
    });
    runner.on('content', (delta) => {
      observed.content_deltas += delta;
    });
    runner.on('content.done', (event) => {
      observed.content_done = event.content;
    });
    runner.on('tool_calls.function.arguments.done', (event) => {
      observed.tool_calls_done.push({ index: event.index, name: event.name, arguments: event.arguments });
    });
    observed.final = await runner.finalChatCompletion();
    return observed;
  },

  async run_tools(client, params) {
    const { stream: _s, tools = [], ...rest } = params;
    const invocations = [];
    const runnable = tools
      .filter((t) => t?.type === 'function' && t.function?.name)
      .map((t) => ({
        type: 'function',
        function: {
          name: t.function.name,
          description: t.function.description,
          parameters: t.function.parameters,
          // What the SDK hands the application's parser: the raw arguments.
          parse: (raw) => {
            invocations.push({ name: t.function.name, arguments_type: typeof raw, arguments: raw, parsed: false });
            const parsed = JSON.parse(raw);
            invocations[invocations.length - 1].parsed = true;
            return parsed;
          },
          function: (args) => JSON.stringify({ ok: true, tool: t.function.name, received: args }),
        },
      }));
    const runner = client.chat.completions.runTools({ ...rest, tools: runnable }, { maxChatCompletions: 2 });
    const final_content = await runner.finalContent();
    return { invocations, final_content };
  },

  async embeddings(client, params) {
    const { encoding_format: _e, ...rest } = params;
    const result = await client.embeddings.create(rest);
    const data = Array.isArray(result?.data) ? result.data : [];
    return {
      data_count: data.length,
      embeddings: data.map((d) => ({
        index: d?.index,
        is_array: Array.isArray(d?.embedding),
        type: d?.embedding?.constructor?.name ?? typeof d?.embedding,
        embedding: Array.isArray(d?.embedding) ? d.embedding.map((x) => (Number.isFinite(x) ? x : String(x))) : d?.embedding,
      })),
      usage: result?.usage ?? null,
    };
  },
};

async function runStep(step, exchanges) {
  const queue = (step.serve || []).map((name) => exchanges[name]);
  if (step.call === 'run_tools') queue.push(canned(JSON.stringify(CANNED_FINAL)));
  const { client, sent, extraRequest } = replayClient(queue);
  const call = CALLS[step.call];
  const out = { name: step.name, call: step.call, ok: false, error: null, observed: { requests: sent } };
  if (!call) {
    out.error = `replay.mjs: unknown call ${JSON.stringify(step.call)}`;
    return out;
  }
  try {
    Object.assign(out.observed, await call(client, step.params || {}));
    out.ok = true;
  } catch (err) {
    out.error = extraRequest() ?? errorText(err);
  }
  return out;
}

/** Known-good responses through every call: proves the SDK works here before blaming a provider. */
async function control() {
  const chunk = (delta, finish) =>
    `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] })}\n\n`;
  const sse = chunk({ role: 'assistant', content: 'he' }, null) + chunk({ content: 'llo' }, null) + chunk({}, 'stop') + 'data: [DONE]\n\n';
  const vector = Buffer.from(new Float32Array([0.6, 0.8]).buffer).toString('base64');
  const exchanges = {
    chat: canned(JSON.stringify({ ...CANNED_FINAL, choices: [{ ...CANNED_FINAL.choices[0], message: { role: 'assistant', content: 'hello' } }] })),
    stream: canned(sse, 'text/event-stream'),
    emb: canned(JSON.stringify({ object: 'list', model: 'm', data: [{ object: 'embedding', index: 0, embedding: vector }], usage: { prompt_tokens: 1, total_tokens: 1 } })),
  };
  const messages = [{ role: 'user', content: 'hi' }];
  const steps = [
    { name: 'control', call: 'create', params: { model: 'm', messages }, serve: ['chat'] },
    { name: 'control', call: 'create_stream', params: { model: 'm', messages }, serve: ['stream'] },
    { name: 'control', call: 'stream_helper', params: { model: 'm', messages }, serve: ['stream'] },
    { name: 'control', call: 'embeddings', params: { model: 'm', input: 'hi' }, serve: ['emb'] },
  ];
  for (const step of steps) {
    const r = await runStep(step, exchanges);
    const text = r.observed.completion?.choices?.[0]?.message?.content ?? r.observed.final?.choices?.[0]?.message?.content;
    if (!r.ok) return { ok: false, error: `${step.call}: ${r.error}` };
    if ((step.call === 'create' || step.call === 'stream_helper') && text !== 'hello') {
      return { ok: false, error: `${step.call}: got ${JSON.stringify(text)} instead of "hello"` };
    }
    const vec = r.observed.embeddings?.[0]?.embedding;
    if (step.call === 'embeddings' && !(Array.isArray(vec) && Math.abs(vec[0] - 0.6) < 1e-6)) {
      return { ok: false, error: `embeddings: decoded ${JSON.stringify(vec)} instead of [0.6, 0.8]` };
    }
  }
  return { ok: true, error: null };
}

async function main() {
  const unhandled = [];
  process.on('unhandledRejection', (err) => unhandled.push(errorText(err)));
  const input = JSON.parse(readFileSync(0, 'utf8'));
  const out = { node: process.versions.node, sdk: VERSION, sdk_engines: sdkEngines(), control: await control(), steps: [] };
  if (out.control.ok) {
    for (const step of input.steps || []) {
      out.steps.push(await runStep(step, input.exchanges || {}));
    }
  }
  out.unhandled = unhandled;
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`replay.mjs failed: ${err?.stack ?? err}\n`);
  process.exitCode = 2;
});
