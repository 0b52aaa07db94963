// TensorFlow.js's layers API (tf.layers, the Keras port bundled in @tensorflow/tfjs) under test as it is:
// `node dropout2d_server.js --impl tf.layers` serves it as the framework `tfjs-layers`.
//
// Ops (channels-last, the Keras convention: (N, L, C) for SpatialDropout1D):
//   dropout        tf.layers.dropout({rate, seed})         layers/core.js  Dropout
//   dropout1d      tf.layers.spatialDropout1d({rate, seed}) layers/core.js  SpatialDropout1D (noise shape [N, 1, C])
//   alpha_dropout  tf.layers.alphaDropout({rate})           layers/noise.js AlphaDropout (takes no seed)
// tf.layers has no spatialDropout2d/3d and no feature alpha dropout; its only form is the layer, applied with
// layer.apply(x, {training}). Dropout and SpatialDropout1D hand `seed` to tfjs-core's tf.dropout, which seeds
// randomUniform's alea generator with it (ops/dropout.js, ops/rand_util.js UniformRandom); unseeded, and always
// for AlphaDropout, randomUniform seeds alea from Math.random().
'use strict';

const tf = require('@tensorflow/tfjs');
// tfjs-core's own PRNG library (a dependency of @tensorflow/tfjs-core): its {global: true} is
// Math.seedrandom, the way the TensorFlow.js authors document to derandomize a program
// (tensorflow/tfjs#2219).
const seedrandom = require('seedrandom');

const OPS = ['dropout', 'dropout1d', 'alpha_dropout'];
const SEEDED = {dropout: tf.layers.dropout, dropout1d: tf.layers.spatialDropout1d};

class NotOffered extends Error {}

/** Seed TensorFlow.js's default random state, Math.random, from which every unseeded draw takes its seed. */
function seedGlobal(seed) {
  seedrandom(String(seed), {global: true});
}

/**
 * The layer for `op`, built fresh for one call: seeded with `seed` on the explicit path, unseeded (drawing
 * from Math.random) on the global one. A seeded layer restarts its generator from its seed on every call
 * (tf.dropout seeds alea(seed) anew each time), so it is built per call, as a fresh seed per forward pass.
 */
function makeLayer(op, rate, seeding, seed) {
  if (!OPS.includes(op)) {
    throw new NotOffered(`tf.layers has no layer for ${op} (it has dropout, spatialDropout1d and alphaDropout; ` +
                         'no spatialDropout2d/3d, no feature alpha dropout)');
  }
  if (op === 'alpha_dropout') {
    if (seeding === 'explicit') {
      throw new NotOffered('tf.layers.alphaDropout takes no seed: its randomUniform draw is always seeded from ' +
                           'Math.random (layers/noise.js AlphaDropout.call)');
    }
    return tf.layers.alphaDropout({rate});
  }
  return SEEDED[op](seeding === 'explicit' ? {rate, seed} : {rate});
}

/** Check a call against what tf.layers offers; the layer applied to x with the call's training flag. */
function layerCall(call, seed) {
  if (call.inplace) {
    throw new NotOffered('TensorFlow.js tensors are immutable: there is no in-place dropout');
  }
  if (call.form !== 'module') {
    throw new NotOffered('tf.layers offers dropout only as layers (the functional op is tfjs-core\'s tf.dropout, ' +
                         'the target tfjs-dropout)');
  }
  const layer = makeLayer(call.op, call.p, call.seeding, seed);
  return (x) => layer.apply(x, {training: call.training});
}

module.exports = {OPS, NotOffered, seedGlobal, makeLayer, layerCall};
