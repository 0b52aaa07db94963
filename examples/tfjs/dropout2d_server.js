#!/usr/bin/env node
// The conformance suite's process protocol (docs/adapters.md) around dropout2d.js:
// one JSON request per line on stdin, one JSON answer per line on stdout.
// `node dropout2d_server.js` serves dropout2d; `--impl tf.dropout` serves tfDropout2d; `--impl tf.layers`
// serves TensorFlow.js's own layers (layers.js) as the framework tfjs-layers.
'use strict';

const crypto = require('crypto');
const os = require('os');
const readline = require('readline');

// Stdout carries only answers: anything a library logs goes to stderr.
const writeAnswer = (answer) => process.stdout.write(JSON.stringify(answer) + '\n');
console.log = console.error;
console.info = console.error;

const tf = require('@tensorflow/tfjs');
const {dropout2d, tfDropout2d} = require('./dropout2d');

const IMPLS = {
  dropout2d: {name: 'tfjs', fn: dropout2d},
  'tf.dropout': {name: 'tfjs-dropout', fn: tfDropout2d},
  'tf.layers': {name: 'tfjs-layers', layers: true},
};
const implArg = process.argv.indexOf('--impl');
const IMPL = IMPLS[implArg > 0 ? process.argv[implArg + 1] : 'dropout2d'];
if (IMPL === undefined) {
  console.error(`unknown --impl; known: ${Object.keys(IMPLS).join(', ')}`);
  process.exit(2);
}
const LAYERS = IMPL.layers ? require('./layers') : null;

const DTYPES = {float32: Float32Array, int32: Int32Array};  // what tfjs tensors can hold of ours
// JS error classes as the Python names the specs use; anything else keeps its own name.
const ERROR_NAMES = {RangeError: 'ValueError', TypeError: 'TypeError'};

class NotOffered extends Error {}

function decodeArray({dtype, shape, data}) {
  const TypedArray = DTYPES[dtype];
  if (TypedArray === undefined) {
    throw new NotOffered(`TensorFlow.js has no ${dtype} tensors (it has float32, int32, bool, complex64, string)`);
  }
  const bytes = Buffer.from(data, 'base64');  // raw little-endian, like the host
  const values = new TypedArray(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return tf.tensor(values, shape, dtype);
}

function encodeArray(tensor) {
  const values = tensor.dataSync();
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  return {dtype: tensor.dtype, shape: tensor.shape, data: bytes.toString('base64')};
}

// A fresh 31-bit seed for every call of a session, derived from the session seed.
function callSeed(sessionSeed, index) {
  const digest = crypto.createHash('sha256').update(`${sessionSeed}:${index}`).digest();
  return digest.readUInt32LE(0) >>> 1;
}

// Every backend registered with this TensorFlow.js build (the pure-JS bundle registers only 'cpu' under
// Node.js; tfjs-node, webgl or wasm would add theirs), as protocol devices: a label per backend.
function layersDevices() {
  const count = {};
  return Object.keys(tf.engine().registryFactory).map((backend) => {
    const kind = ['cpu', 'wasm', 'tensorflow'].includes(backend) ? 'cpu' : 'gpu';
    const index = count[kind] = (count[kind] === undefined ? 0 : count[kind] + 1);
    return {kind, name: kind === 'cpu' ? os.arch() : backend, backend, index};
  });
}

function deviceLabel({kind, index}) {
  return index ? `${kind}${index}` : kind;
}

function hello() {
  if (LAYERS) {
    return {
      protocol: 1, name: IMPL.name, version: tf.version.tfjs, layout: 'channels_last',
      ops: LAYERS.OPS, modes: ['eager'],
      // global first: the one path all three layers share (AlphaDropout takes no seed)
      seeding_paths: ['global', 'explicit'],
      devices: layersDevices(),
    };
  }
  return {
    protocol: 1, name: IMPL.name, version: tf.version.tfjs, layout: 'channels_first',
    ops: ['dropout2d'], modes: ['eager'],
    devices: [{kind: 'cpu', name: os.arch(), backend: tf.getBackend()}],
  };
}

// The call's forward function x -> y: the layer on tfjs-layers, else the example's function.
function forward(session, call, xSpec) {
  if (LAYERS) {
    const layer = LAYERS.layerCall(call, callSeed(session.seed, session.calls++));
    return [decodeArray(xSpec), layer];
  }
  if (call.op !== 'dropout2d') {
    throw new NotOffered(`this example implements only dropout2d, not ${call.op}`);
  }
  if (call.inplace) {
    throw new NotOffered('TensorFlow.js tensors are immutable: there is no in-place dropout');
  }
  // Both forms run the same function: TensorFlow.js has no Dropout2d layer.
  const x = decodeArray(xSpec);
  const options = {training: call.training, seed: callSeed(session.seed, session.calls++)};
  return [x, (input) => IMPL.fn(input, call.p, options)];
}

function runCall(session, call, xSpec) {
  const [x, fn] = forward(session, call, xSpec);
  const before = x.dataSync().slice();
  let y;
  let grad = null;
  if (call.grad) {  // y and its gradient from one taped forward pass
    grad = tf.grad((input) => {
      y = tf.keep(fn(input));
      return y.sum();
    })(x);
  } else {
    y = fn(x);
  }
  const after = x.dataSync();
  const answer = {
    y: encodeArray(y), dtype: y.dtype, same_object: y === x,
    input_modified: !before.every((v, i) => Object.is(v, after[i])),
    grad: grad === null ? null : encodeArray(grad),
  };
  tf.dispose([x, y, grad].filter((t) => t !== null));
  return answer;
}

const sessions = new Map();

async function answer(request) {
  switch (request.op) {
    case 'hello':
      return hello();
    case 'open': {
      const id = sessions.size + 1;
      if (LAYERS) {
        const device = layersDevices().find((d) => deviceLabel(d) === request.device);
        if (device === undefined) {
          throw new Error(`no device ${request.device}`);
        }
        if (device.backend !== tf.getBackend() && !(await tf.setBackend(device.backend))) {
          throw new Error(`backend ${device.backend} failed to initialise`);
        }
        LAYERS.seedGlobal(request.seed);  // the "global" path: Math.random, seeded once per session
      }
      sessions.set(id, {seed: request.seed, calls: 0});
      return {session: id};
    }
    case 'call': {
      const session = sessions.get(request.session);
      if (session === undefined) {
        throw new Error(`no session ${request.session}`);
      }
      const warnings = [];
      const warn = console.warn;
      console.warn = (...msg) => warnings.push(msg.join(' '));
      try {
        return {...runCall(session, request.call, request.x), warnings};
      } finally {
        console.warn = warn;
      }
    }
    default:
      throw new Error(`unknown request op ${request.op}`);
  }
}

function errorAnswer(err) {
  if (err instanceof NotOffered || (LAYERS && err instanceof LAYERS.NotOffered)) {
    return {not_offered: {message: err.message}};
  }
  const native = err && err.constructor ? err.constructor.name : 'Error';
  const type = ERROR_NAMES[native] || native;
  return {error: {type, message: native === type ? err.message : `${native}: ${err.message}`}};
}

async function main() {
  await tf.ready();
  tf.tidy(() => tf.zeros([1]).add(1));  // the CPU backend's first use prints a banner: not during a call
  const lines = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    let result;
    try {
      result = await answer(request);
    } catch (err) {
      result = errorAnswer(err);
    }
    writeAnswer({id: request.id, ...result});
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
