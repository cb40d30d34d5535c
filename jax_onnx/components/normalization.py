"""Flax NNX normalization layers as ONNX normalization ops.

nnx.LayerNorm -> LayerNormalization (opset 17), nnx.RMSNorm -> RMSNormalization
(opset 23), nnx.BatchNorm in inference mode -> BatchNormalization. The
decomposition is Flax's own computation on the same (promoted) operands.

Numerics: Flax computes the variance as E[x^2] - E[x]^2 by default
(use_fast_variance); the ONNX ops compute E[(x - E[x])^2], which is the more
accurate of the two; they agree to float32 rounding unless |mean| >> std.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jax_onnx.components.core import (
  composite,
  register_component,
  route_method,
  should_route,
)
from jax_onnx.registry import Lazy, Spec, case
from jax_onnx.shapes import is_static

_NORM = "flax.nnx.nn.normalization"


def _flax_norm():
  from flax.nnx.nn import normalization
  return normalization


def _negative_axes(axes, ndim: int) -> tuple[int, ...]:
  axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
  return tuple(sorted(int(a) - ndim if a >= 0 else int(a) for a in axes))


def _stats_and_normalize(x, scale, bias, *, reduction_axes, feature_axes, epsilon,
                         use_mean, use_fast_variance, dtype):
  """Flax's normalization: statistics over reduction_axes, then scale and bias."""
  norm = _flax_norm()
  mean, var = norm._compute_stats(x, reduction_axes, dtype, None, None, use_mean=use_mean,
                                  use_fast_variance=use_fast_variance)
  return norm._normalize(x, mean, var, scale, bias, reduction_axes, feature_axes, dtype,
                         epsilon)


def _routed_norm(name: str, use_mean: bool, has_bias_attr: bool):
  """`__call__` of nnx.LayerNorm / nnx.RMSNorm routed through a composite."""
  def wrap(original):
    def __call__(self, x, *args, mask=None, **kwargs):
      if (mask is not None or args or kwargs or self.axis_name is not None
          or not should_route()):
        return original(self, x, *args, mask=mask, **kwargs)
      scale = self.scale[...] if self.scale else None
      bias = self.bias[...] if has_bias_attr and self.bias else None
      if has_bias_attr:
        x, scale, bias = self.promote_dtype((x, scale, bias), dtype=self.dtype)
      else:
        x, scale = self.promote_dtype((x, scale), dtype=self.dtype)
      attrs = dict(reduction_axes=_negative_axes(self.reduction_axes, x.ndim),
                   feature_axes=_negative_axes(self.feature_axes, x.ndim),
                   epsilon=float(self.epsilon), use_mean=use_mean,
                   use_fast_variance=bool(self.use_fast_variance),
                   dtype=None if self.dtype is None else np.dtype(self.dtype).name,
                   has_scale=scale is not None, has_bias=bias is not None)

      def decomposition(x, scale, bias, *, has_scale, has_bias, **a):
        del has_scale, has_bias
        return _stats_and_normalize(x, scale, bias, **a)
      return composite(name, decomposition)(x, scale, bias, **attrs)
    return __call__
  return wrap


def _normalized_scale(ctx, value, x_aval, axis, feature_axes, fill):
  """`value` (shape of the feature axes, or None) as a tensor of the normalized
  shape x.shape[axis:], as the ONNX normalization ops take it."""
  norm_shape = x_aval.shape[axis:]
  if not is_static(norm_shape):
    return None
  dtype = x_aval.dtype
  if value is None:
    return ctx.const(np.full(norm_shape, fill, dtype))
  rank = len(norm_shape)
  feature_shape = [norm_shape[a] if (a - rank) in feature_axes else 1 for a in range(rank)]
  known = next((t.const for t in ctx.tracers_in if t.value == value), None)
  if known is not None:    # weights: reshaped here, not by a node
    return ctx.const(np.broadcast_to(known.reshape(feature_shape), norm_shape).copy())
  if list(feature_shape) == list(norm_shape):
    return ctx.reshape(value, norm_shape)
  return ctx.op("Expand", ctx.reshape(value, feature_shape), ctx.ints(norm_shape))


def _norm_rule(onnx_op: str):
  def rule(ctx, x, *params, reduction_axes, feature_axes, epsilon, use_mean, use_fast_variance,
           dtype, has_scale, has_bias):
    del use_fast_variance, use_mean
    x_aval = ctx.avals_in[0]
    axis = reduction_axes[0]
    if (reduction_axes != tuple(range(axis, 0)) or not set(feature_axes) <= set(reduction_axes)
        or (dtype is not None and dtype != np.dtype(x_aval.dtype).name)):
      return None   # ONNX normalizes one suffix of the axes, and scales within it
    params = list(params)
    scale = params.pop(0) if has_scale else None
    bias = params.pop(0) if has_bias else None
    ndim = len(x_aval.shape)
    scale = _normalized_scale(ctx, scale, x_aval, ndim + axis, feature_axes, 1.0)
    if scale is None:
      return None
    inputs = [x, scale]
    if bias is not None:
      inputs.append(_normalized_scale(ctx, bias, x_aval, ndim + axis, feature_axes, 0.0))
    return ctx.op(onnx_op, *inputs, axis=axis, epsilon=epsilon)
  return rule


register_component("jax_onnx.layer_norm", title="flax.nnx.LayerNorm",
                   onnx_ops=["LayerNormalization"], min_opset=17,
                   notes="normalized axes a suffix of the shape, scale/bias within them")(
    _norm_rule("LayerNormalization"))
route_method("flax.nnx.LayerNorm", _NORM, "LayerNorm", "__call__",
             _routed_norm("jax_onnx.layer_norm", use_mean=True, has_bias_attr=True))
register_component("jax_onnx.rms_norm", title="flax.nnx.RMSNorm",
                   onnx_ops=["RMSNormalization"], min_opset=23,
                   notes="opset >= 23; older opsets get the decomposition")(
    _norm_rule("RMSNormalization"))
route_method("flax.nnx.RMSNorm", _NORM, "RMSNorm", "__call__",
             _routed_norm("jax_onnx.rms_norm", use_mean=False, has_bias_attr=False))


# ---------------------------------------------------------------------------
# nnx.BatchNorm in inference mode (running statistics) -> BatchNormalization.

def _routed_batch_norm(original):
  def __call__(self, x, use_running_average=None, *, mask=None):
    running = self.use_running_average if use_running_average is None else use_running_average
    if not running or mask is not None or not should_route():
      return original(self, x, use_running_average, mask=mask)
    scale = self.scale[...] if self.scale is not None else None
    bias = self.bias[...] if self.bias is not None else None
    x, mean, var, scale, bias = self.promote_dtype(
        (x, self.mean[...], self.var[...], scale, bias), dtype=self.dtype)
    feature_axes = _negative_axes(self.axis, x.ndim)
    attrs = dict(feature_axes=feature_axes, epsilon=float(self.epsilon),
                 dtype=None if self.dtype is None else np.dtype(self.dtype).name,
                 has_scale=scale is not None, has_bias=bias is not None)

    def decomposition(x, mean, var, scale, bias, *, feature_axes, epsilon, dtype, **_):
      reduction_axes = tuple(a for a in range(-x.ndim, 0) if a not in feature_axes)
      return _flax_norm()._normalize(x, mean, var, scale, bias, reduction_axes, feature_axes,
                                     dtype, epsilon)
    return composite("jax_onnx.batch_norm", decomposition)(x, mean, var, scale, bias, **attrs)
  return __call__


@register_component("jax_onnx.batch_norm", title="flax.nnx.BatchNorm",
                    onnx_ops=["BatchNormalization"], min_opset=15,
                    notes="inference mode (running statistics), one feature axis")
def _batch_norm(ctx, x, mean, var, *params, feature_axes, epsilon, dtype, has_scale, has_bias):
  x_aval = ctx.avals_in[0]
  ndim = len(x_aval.shape)
  if len(feature_axes) != 1 or ndim < 2 or (dtype and dtype != np.dtype(x_aval.dtype).name):
    return None
  channels = x_aval.shape[feature_axes[0]]
  if not isinstance(channels, (int, np.integer)):
    return None
  params = list(params)
  scale = params.pop(0) if has_scale else ctx.const(np.ones(channels, x_aval.dtype))
  bias = params.pop(0) if has_bias else ctx.const(np.zeros(channels, x_aval.dtype))
  # ONNX normalizes axis 1 (N, C, ...): move the feature axis there and back.
  axis = ndim + feature_axes[0]
  perm = [0, axis] + [a for a in range(1, ndim) if a != axis] if axis != 1 else None
  if perm:
    x = ctx.op("Transpose", x, perm=perm)
  y = ctx.op("BatchNormalization", x, scale, bias, mean, var, epsilon=epsilon)
  return ctx.op("Transpose", y, perm=list(np.argsort(perm))) if perm else y


route_method("flax.nnx.BatchNorm", _NORM, "BatchNorm", "__call__", _routed_batch_norm)


# ---------------------------------------------------------------------------
# Test cases: the layers inside small functions (weights become initializers).

def _layer(make, **call_kw):
  """A case function calling the NNX layer `make(rngs)`, with random weights
  (running variances positive), built before the export like a user's model."""
  def build():
    from flax import nnx
    layer = make(nnx.Rngs(0))
    rng = np.random.default_rng(1)
    for path, var in nnx.state(layer).flat_state():
      new = rng.standard_normal(var.get_value().shape).astype(var.get_value().dtype)
      var.set_value(jnp.asarray(np.abs(new) + 0.5 if path[-1] == "var" else new))
    return (lambda x: layer(x, **call_kw)) if call_kw else layer
  return Lazy(build)


def _nnx(name):
  from flax import nnx
  return getattr(nnx, name)


def _shifted(rng, shape):
  return rng.standard_normal(shape).astype(np.float32) * 2 + 3


_C = ("B", 5, 16)
case("component_layer_norm", _layer(lambda r: _nnx("LayerNorm")(16, rngs=r)), _C,
     covers="flax.nnx.LayerNorm", expect_ops=("LayerNormalization",), forbid_ops=("ReduceMean",),
     rtol=1e-5, atol=2e-5)
case("component_layer_norm_shifted_inputs", _layer(lambda r: _nnx("LayerNorm")(16, rngs=r)),
     Spec(_C, "float32", _shifted), covers="flax.nnx.LayerNorm",
     expect_ops=("LayerNormalization",), rtol=1e-4, atol=1e-4)
case("component_layer_norm_no_bias_no_scale",
     _layer(lambda r: _nnx("LayerNorm")(16, use_bias=False, use_scale=False, rngs=r)), _C,
     covers="flax.nnx.LayerNorm", expect_ops=("LayerNormalization",), atol=2e-5)
case("component_layer_norm_two_axes",
     _layer(lambda r: _nnx("LayerNorm")(16, reduction_axes=(-2, -1), rngs=r)), _C,
     covers="flax.nnx.LayerNorm", expect_ops=("LayerNormalization",), atol=2e-5)
case("component_layer_norm_opset16_decomposed", _layer(lambda r: _nnx("LayerNorm")(16, rngs=r)),
     _C, covers="flax.nnx.LayerNorm", opset=18, options={"components": False},
     forbid_ops=("LayerNormalization",), atol=2e-5)
case("component_rms_norm", _layer(lambda r: _nnx("RMSNorm")(16, rngs=r)), _C,
     covers="flax.nnx.RMSNorm", opset=23, expect_ops=("RMSNormalization",), atol=2e-5)
case("component_rms_norm_opset21_decomposed", _layer(lambda r: _nnx("RMSNorm")(16, rngs=r)), _C,
     covers="flax.nnx.RMSNorm", opset=21, forbid_ops=("RMSNormalization",), atol=2e-5)
case("component_batch_norm_2d",
     _layer(lambda r: _nnx("BatchNorm")(16, use_running_average=True, rngs=r)), ("B", 16),
     covers="flax.nnx.BatchNorm", expect_ops=("BatchNormalization",), forbid_ops=("Transpose",),
     atol=2e-5)
case("component_batch_norm_nhwc",
     _layer(lambda r: _nnx("BatchNorm")(6, use_running_average=True, rngs=r)), ("B", 4, 3, 6),
     covers="flax.nnx.BatchNorm", expect_ops=("BatchNormalization",), atol=2e-5)
case("component_batch_norm_call_flag",
     _layer(lambda r: _nnx("BatchNorm")(6, rngs=r), use_running_average=True), ("B", 4, 6),
     covers="flax.nnx.BatchNorm", expect_ops=("BatchNormalization",), atol=2e-5)


# ---------------------------------------------------------------------------
# nnx.GroupNorm (statistics over each group's channels and all spatial axes)
# -> GroupNormalization (opset 21: per-channel scale and bias).

def _routed_group_norm(original):
  def __call__(self, x, *, mask=None):
    if (mask is not None or self.reduction_axes is not None or self.axis_name is not None
        or x.ndim < 3 or not should_route()):
      return original(self, x, mask=mask)
    scale = self.scale[...] if self.scale else None
    bias = self.bias[...] if self.bias else None
    x, scale, bias = self.promote_dtype((x, scale, bias), dtype=self.dtype)
    attrs = {"num_groups": int(self.num_groups), "epsilon": float(self.epsilon),
             "use_fast_variance": bool(self.use_fast_variance),
             "dtype": None if self.dtype is None else np.dtype(self.dtype).name,
             "has_scale": scale is not None, "has_bias": bias is not None}

    def decomposition(x, scale, bias, *, num_groups, epsilon, use_fast_variance, dtype, **_):
      norm = _flax_norm()
      axes = tuple(range(1, x.ndim))        # all but the batch axis, per group
      groups = x.reshape(x.shape[:-1] + (num_groups, x.shape[-1] // num_groups))
      mean, var = norm._compute_stats(groups, axes[:-1] + (-1,), dtype, None, None,
                                      use_fast_variance=use_fast_variance)
      mean = jnp.repeat(mean, x.shape[-1] // num_groups, axis=1)
      var = jnp.repeat(var, x.shape[-1] // num_groups, axis=1)
      return norm._normalize(x, mean, var, scale, bias, axes[:-1], (x.ndim - 1,), dtype, epsilon)
    return composite("jax_onnx.group_norm", decomposition)(x, scale, bias, **attrs)
  return __call__


@register_component("jax_onnx.group_norm", title="flax.nnx.GroupNorm",
                    onnx_ops=["GroupNormalization"], min_opset=21,
                    notes="channels last, statistics over all non-batch axes (the default)")
def _group_norm(ctx, x, *params, num_groups, epsilon, use_fast_variance, dtype, has_scale,
                has_bias):
  del use_fast_variance
  x_aval = ctx.avals_in[0]
  ndim = len(x_aval.shape)
  channels = x_aval.shape[-1]
  if not isinstance(channels, (int, np.integer)) or (
      dtype and dtype != np.dtype(x_aval.dtype).name):
    return None
  params = list(params)
  scale = params.pop(0) if has_scale else ctx.const(np.ones(channels, x_aval.dtype))
  bias = params.pop(0) if has_bias else ctx.const(np.zeros(channels, x_aval.dtype))
  to_channels_first = [0, ndim - 1] + list(range(1, ndim - 1))
  y = ctx.op("GroupNormalization", ctx.op("Transpose", x, perm=to_channels_first), scale, bias,
             num_groups=num_groups, epsilon=epsilon)
  return ctx.op("Transpose", y, perm=list(np.argsort(to_channels_first)))


route_method("flax.nnx.GroupNorm", _NORM, "GroupNorm", "__call__", _routed_group_norm)

case("component_group_norm",
     _layer(lambda r: _nnx("GroupNorm")(8, num_groups=4, rngs=r)), ("B", 3, 5, 8),
     covers="flax.nnx.GroupNorm", expect_ops=("GroupNormalization",), atol=2e-5)
case("component_group_norm_1d", _layer(lambda r: _nnx("GroupNorm")(6, num_groups=2, rngs=r)),
     ("B", 7, 6), covers="flax.nnx.GroupNorm", expect_ops=("GroupNormalization",), atol=2e-5)
case("component_group_norm_opset18_decomposed",
     _layer(lambda r: _nnx("GroupNorm")(8, num_groups=4, rngs=r)), ("B", 3, 5, 8),
     covers="flax.nnx.GroupNorm", opset=18, forbid_ops=("GroupNormalization",), atol=2e-5)
