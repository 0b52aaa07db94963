// Channel dropout (dropout2d) on TensorFlow.js, channels-first like PyTorch.
//
// dropout2d: (N, C, H, W), or an unbatched (C, H, W) image; one tf.randomUniform draw per
// channel, and a select rather than a multiply, so a dropped channel is exactly zero.
// tfDropout2d: TensorFlow.js's own tf.dropout with a noise shape (N, C, 1, ..., 1), as someone
// porting PyTorch code would write it; under test as it is, with no checks of its own.
'use strict';

const tf = require('@tensorflow/tfjs');

function checkArguments(x, p) {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {  // !(>=) also rejects NaN
    throw new RangeError(`dropout probability has to be between 0 and 1, but got ${p}`);
  }
  if (x.dtype !== 'float32') {
    throw new TypeError(`dropout2d needs a float32 tensor, got ${x.dtype}`);
  }
  if (x.rank !== 3 && x.rank !== 4) {
    throw new RangeError(`dropout2d needs (N, C, H, W) or unbatched (C, H, W) input, got rank ${x.rank}`);
  }
}

/**
 * Zero each channel with probability p and scale the kept ones by 1 / (1 - p).
 * @param {tf.Tensor} x float32, (N, C, H, W) or (C, H, W)
 * @param {number} p probability of zeroing a channel, in [0, 1]
 * @param {{training?: boolean, seed?: number}} options seed makes the mask reproducible
 * @returns {tf.Tensor} the input itself when not training, else a new tensor
 */
function dropout2d(x, p, {training = true, seed} = {}) {
  checkArguments(x, p);
  if (!training) {
    return x;
  }
  // One uniform draw per (sample, channel), broadcast over H and W.
  const maskShape = x.rank === 4 ? [x.shape[0], x.shape[1], 1, 1] : [x.shape[0], 1, 1];
  return tf.tidy(() => {
    if (p === 1) {
      return tf.zerosLike(x);
    }
    const keep = tf.randomUniform(maskShape, 0, 1, 'float32', seed).greaterEqual(p);
    const scaled = tf.mul(x, tf.scalar(1 / (1 - p), 'float32'));  // scale rounded to float32 once
    return tf.where(tf.broadcastTo(keep, x.shape), scaled, tf.zerosLike(x));
  });
}

/** tf.dropout(x, p, noiseShape = [N, C, 1, ...], seed); the input itself when not training. */
function tfDropout2d(x, p, {training = true, seed} = {}) {
  if (!training) {
    return x;
  }
  const noiseShape = x.shape.map((n, axis) => (axis < 2 ? n : 1));
  return tf.dropout(x, p, noiseShape, seed);
}

module.exports = {dropout2d, tfDropout2d};
