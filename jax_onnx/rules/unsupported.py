"""Primitives without a rule yet, and why. The coverage table reads this."""
from jax_onnx.registry import not_implemented

_LATER_LAX = "planned in the lax-coverage issue"
_COLLECTIVE = ("a collective across devices: an ONNX graph runs on one device, so "
               "export the per-device function instead")
_EFFECT = "an effect/token with no meaning in an inference graph"

not_implemented({
    **{p: _LATER_LAX for p in [
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "bessel_i0e",
        "bessel_i1e", "bitcast_convert_type", "cbrt", "clz", "conv_general_dilated",
        "cosh", "cumlogsumexp", "cummax", "cummin", "cumprod", "cumsum", "digamma",
        "dynamic_update_slice", "erf_inv", "erfc", "exp2", "fft",
        "is_finite", "lgamma", "nextafter", "pad", "population_count",
        "reduce_precision", "reduce_window", "reduce_window_max", "reduce_window_min",
        "reduce_window_sum", "reduce_xor", "rem", "rev", "scatter", "scatter-add",
        "scatter-max", "scatter-min", "scatter-mul", "select_and_gather_add",
        "select_and_scatter", "select_and_scatter_add", "shift_left",
        "shift_right_arithmetic", "shift_right_logical", "sinh", "sort", "tan",
        "top_k", "approx_top_k", "cholesky", "triangular_solve", "random_bits",
        "random_fold_in", "random_seed", "random_split", "random_wrap", "random_unwrap",
        "threefry2x32", "reduce", "clamp_precision", "igamma",
        "igammac", "igamma_grad_a", "polygamma", "zeta", "regularized_incomplete_beta",
        "random_gamma", "rng_uniform", "rng_bit_generator", "custom_linear_solve",
        "tridiagonal_solve", "tridiagonal", "eig", "eigh", "qr", "svd", "lu", "schur",
        "hessenberg", "householder_product"]},

    **{p: _COLLECTIVE for p in ["psum", "pmax", "pmin", "all_gather", "all_to_all",
                                "ppermute", "ragged_all_to_all", "axis_index"]},
    **{p: _EFFECT for p in ["create_token", "after_all"]},
    **{p: "complex numbers: ONNX Runtime has no complex tensors"
       for p in ["complex", "conj", "real", "imag"]},
    **{p: "mutable array references (jax.new_ref): state, not dataflow"
       for p in ["get", "swap"]},
    **{p: "calls back into Python, which an ONNX graph cannot do: compute the "
          "value with jnp/lax, or outside the exported function"
       for p in ["pure_callback", "io_callback", "debug_callback"]},
    "custom_lin": "appears only inside autodiff (linearize), never in a forward graph",
    "empty2": "allocates uninitialised memory for mutable refs",
    "name": "a debugging name on a value (planned: keep it as the ONNX value name)",
    "eq_to": "internal symbolic-shape comparison", "le_to": "internal symbolic-shape comparison",
    "lt_to": "internal symbolic-shape comparison",
})
