// The replay worker for client.vercel_ai: the Vercel AI SDK (`ai` + `@ai-sdk/openai-compatible`).
//
// Started by the suite as `node replay.mjs` from the folder where `npm ci` installed node_modules
// (this file sits beside them: ES module imports resolve from the file's own folder). It speaks the
// line protocol of conformance/clients/python/harness.py (see conformance/clients/README.md):
//   first    {"hello": true, "versions": {package: version}, "runtime": "node v22.1.0", "calls": [...]}
//            or {"hello": false, "error": "..."} when the SDK cannot be loaded
//   a step   {"ok": true, "observed": {...}} | {"ok": false, "error": "Name: message"}
// Steps are read one JSON object per line from stdin and answered strictly in order, one at a time.
// Replies go to fd 1 with fs.writeSync; everything the SDK logs goes to stderr.
//
// Each call is what an application writes with the SDK's app-level API, pointed at step.base_url:
//   chat          generateText                                         -> text, usage
//   chat_stream   streamText (includeUsage on the provider)            -> text from fullStream, usage
//   tools         generateText with tool({inputSchema: jsonSchema(...)}), no execute -> text, toolCalls
//   tools_stream  streamText with the same tools                       -> text from fullStream, toolCalls
//   tool_turn     generateText, tools whose execute returns step.tool_result, stopWhen stepCountIs(2)
//   structured    generateText with output: Output.object({schema}) (generateObject is deprecated in
//                 ai 7); the schema is zod's z.fromJSONSchema of the request's schema, so the SDK
//                 validates the answer as a typed application schema would; supportsStructuredOutputs
//                 makes the provider send response_format json_schema
//   embed_float   embed / embedMany with provider.embeddingModel       -> vectors
//   embed_default the same call: the provider always asks for encoding_format "float", and has no
//                 base64 mode, so the library's default is floats
//   error         chat on an error answer: what the application catches (name, statusCode, message)
// Left out: models (the openai-compatible provider has no model listing; only Vercel's own gateway
// lists models) and agent_run / agent_stream / agent_tools (the openai-compatible provider speaks Chat
// Completions only; the Responses API is in @ai-sdk/openai, a different provider).
// Retries are off (maxRetries: 0), the timeout is step.timeout_s, telemetry is off on every call.
// An error the SDK throws, or hands over as a stream `error` part, is the finding: never caught here.

import { readFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';

const MAX_ERROR_CHARS = 4000;
const PACKAGES = ['ai', '@ai-sdk/openai-compatible', '@ai-sdk/provider', '@ai-sdk/provider-utils', 'zod'];
const PROVIDER_NAME = 'replay';
const NO_TELEMETRY = { isEnabled: false };

// Everything the SDK and its dependencies print goes to stderr; fd 1 carries protocol lines only.
// process.stdout is never created: on a pipe, creating it makes fd 1 non-blocking, and a long reply
// would then be cut short (writeSync writes what the pipe takes and returns).
console.log = console.info = console.debug = console.warn = console.error;
Object.defineProperty(process, 'stdout', { configurable: true, enumerable: true, get: () => process.stderr });
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

let ai;
let z;
let createOpenAICompatible;

/** One protocol line on fd 1, written whole even if fd 1 has become non-blocking after all. */
function reply(obj) {
  const line = Buffer.from(JSON.stringify(obj) + '\n', 'utf8');
  for (let done = 0; done < line.length; ) {
    try {
      done += writeSync(1, line, done);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(PAUSE, 0, 0, 5);
    }
  }
}

function errorText(err) {
  if (err == null || typeof err !== 'object') return `Error: ${String(err)}`;
  // A class name like the Python worker's, but a DOMException says what it is in `name` (TimeoutError).
  const className = err.constructor?.name;
  const name = (className === 'DOMException' ? err.name : className) || err.name || 'Error';
  let text = `${name}: ${err.message ?? String(err)}`;
  const cause = err.cause;
  const causeMessage = cause?.message ?? (cause == null ? '' : String(cause));
  if (causeMessage && !text.includes(causeMessage)) text += ` (from ${cause?.constructor?.name ?? 'Error'}: ${causeMessage})`;
  return text.slice(0, MAX_ERROR_CHARS);
}

function versions() {
  const found = {};
  for (const name of PACKAGES) {
    const path = new URL(`./node_modules/${name}/package.json`, import.meta.url);
    found[name] = JSON.parse(readFileSync(path, 'utf8')).version;
  }
  return found;
}

function provider(step, settings = {}) {
  return createOpenAICompatible({
    name: PROVIDER_NAME,
    baseURL: step.base_url,
    apiKey: step.api_key,
    includeUsage: true,
    ...settings,
  });
}

/** OpenAI chat messages as the SDK's ModelMessages (the probes send plain system/user turns). */
function modelMessages(messages = []) {
  return messages.map((m) => {
    const role = m.role === 'developer' ? 'system' : m.role;
    let content = m.content;
    if (Array.isArray(content)) {
      const texts = content.filter((p) => p?.type === 'text').map((p) => p.text);
      content = role === 'system' ? texts.join('\n') : texts.map((text) => ({ type: 'text', text }));
    }
    return { role, content };
  });
}

/** An OpenAI tool_choice as the SDK's toolChoice. */
function toolChoice(choice) {
  if (choice == null || typeof choice === 'string') return choice ?? undefined;
  const name = choice.function?.name;
  return name ? { type: 'tool', toolName: name } : undefined;
}

/** The settings an application passes on every generateText/streamText call, from the request. */
function callSettings(step) {
  const req = step.request || {};
  return {
    model: provider(step, { supportsStructuredOutputs: true })(step.model),
    messages: modelMessages(req.messages),
    maxOutputTokens: req.max_completion_tokens ?? req.max_tokens ?? undefined,
    temperature: req.temperature ?? undefined,
    topP: req.top_p ?? undefined,
    seed: req.seed ?? undefined,
    stopSequences: req.stop == null ? undefined : [].concat(req.stop),
    maxRetries: 0,
    timeout: step.timeout_s * 1000,
    telemetry: NO_TELEMETRY,
  };
}

/** The request's function tools as SDK tools; `execute(name, input)` when the loop runs them. */
function sdkTools(step, execute = null) {
  const tools = {};
  for (const t of step.request?.tools || []) {
    if (t?.type !== 'function' || !t.function?.name) continue;
    const name = t.function.name;
    tools[name] = ai.tool({
      description: t.function.description,
      inputSchema: ai.jsonSchema(t.function.parameters ?? { type: 'object', properties: {} }),
      ...(execute ? { execute: async (input) => execute(name, input) } : {}),
    });
  }
  return tools;
}

function usage(u) {
  if (u == null) return null;
  const out = { prompt_tokens: u.inputTokens ?? null, completion_tokens: u.outputTokens ?? null, total_tokens: u.totalTokens ?? null };
  return Object.values(out).every((v) => v === null) ? null : out;
}

/** A tool call as the application receives it; an unparsable or unknown call says why. */
function toolCall(call) {
  const out = { id: call.toolCallId, name: call.toolName, arguments: call.input };
  if (call.invalid) out.invalid = errorText(call.error);
  return out;
}

/** Drains a streamText result the application's way: text deltas shown, error parts thrown. */
async function drain(result) {
  let text = '';
  for await (const part of result.fullStream) {
    if (part.type === 'text-delta') text += part.text;
    else if (part.type === 'error') throw part.error;
  }
  return text;
}

async function embedInput(step) {
  const input = step.request?.input;
  const settings = {
    model: provider(step).embeddingModel(step.model),
    maxRetries: 0,
    abortSignal: AbortSignal.timeout(step.timeout_s * 1000),
    telemetry: NO_TELEMETRY,
  };
  if (Array.isArray(input)) {
    const { embeddings } = await ai.embedMany({ ...settings, values: input });
    return { vectors: embeddings };
  }
  const { embedding } = await ai.embed({ ...settings, value: input });
  return { vectors: [embedding] };
}

const CALLS = {
  async chat(step) {
    const result = await ai.generateText(callSettings(step));
    return { text: result.text, usage: usage(result.usage) };
  },

  async chat_stream(step) {
    const result = ai.streamText(callSettings(step));
    const text = await drain(result);
    return { text, usage: usage(await result.usage) };
  },

  async tools(step) {
    const req = step.request || {};
    const result = await ai.generateText({ ...callSettings(step), tools: sdkTools(step), toolChoice: toolChoice(req.tool_choice) });
    return { text: result.text, tool_calls: result.toolCalls.map(toolCall) };
  },

  async tools_stream(step) {
    const req = step.request || {};
    const result = ai.streamText({ ...callSettings(step), tools: sdkTools(step), toolChoice: toolChoice(req.tool_choice) });
    const text = await drain(result);
    return { text, tool_calls: (await result.toolCalls).map(toolCall) };
  },

  async tool_turn(step) {
    const req = step.request || {};
    const invocations = [];
    const tools = sdkTools(step, (name, input) => {
      invocations.push({ name, arguments: input });
      return step.tool_result;
    });
    const result = await ai.generateText({
      ...callSettings(step),
      tools,
      toolChoice: toolChoice(req.tool_choice),
      stopWhen: ai.stepCountIs(2),
    });
    return { invocations, text: result.text };
  },

  async structured(step) {
    const format = step.request?.response_format?.json_schema || {};
    const output = ai.Output.object({ schema: z.fromJSONSchema(format.schema), name: format.name, description: format.description });
    const result = await ai.generateText({ ...callSettings(step), output });
    return { parsed: result.output };
  },

  embed_float: embedInput,
  embed_default: embedInput,

  // The one call that catches: on an error answer, what the application catches is the observation.
  async error(step) {
    try {
      await CALLS.chat(step);
    } catch (err) {
      const status = [err?.statusCode, err?.cause?.statusCode, err?.lastError?.statusCode].find((s) => Number.isInteger(s));
      return { raised: true, type: err?.name ?? typeof err, status: status ?? null, message: String(err?.message ?? err).slice(0, MAX_ERROR_CHARS) };
    }
    return { raised: false };
  },
};

async function handle(line) {
  try {
    const step = JSON.parse(line);
    const call = CALLS[step.call];
    if (!call) throw new Error(`replay.mjs has no call ${JSON.stringify(step.call)}`);
    return { ok: true, observed: await call(step) };
  } catch (err) {
    process.stderr.write(`${err?.stack ?? err}\n`);
    return { ok: false, error: errorText(err) };
  }
}

async function main() {
  process.on('unhandledRejection', (err) => process.stderr.write(`unhandled rejection: ${err?.stack ?? err}\n`));
  try {
    ai = await import('ai');
    ({ z } = await import('zod'));
    ({ createOpenAICompatible } = await import('@ai-sdk/openai-compatible'));
    reply({ hello: true, versions: versions(), runtime: `node ${process.version}`, calls: Object.keys(CALLS).sort() });
  } catch (err) {
    process.stderr.write(`${err?.stack ?? err}\n`);
    reply({ hello: false, error: errorText(err) });
    process.exitCode = 1;
    return;
  }
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim()) reply(await handle(line));
  }
}

await main();
