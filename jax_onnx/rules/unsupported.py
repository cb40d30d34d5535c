"""Primitives without a rule yet, and why. The coverage table reads this."""
from jax_onnx.registry import not_implemented

_DECOMPOSITION = ("an iterative matrix decomposition with no ONNX op: compute it outside the "
                  "exported function, or pass its result in as an input")
_GRAD_OF_POOLING = ("bound only inside XLA's own lowering of select_and_scatter_add (the "
                    "gradient of max pooling, which has a rule): a trace never sees it")
_COLLECTIVE = ("a collective across devices: an ONNX graph runs on one device, so "
               "export the per-device function instead")
_EFFECT = "an effect/token with no meaning in an inference graph"

not_implemented({
    **{p: _DECOMPOSITION for p in ["eig", "eigh", "qr", "svd", "lu", "schur", "hessenberg",
                                   "householder_product", "tridiagonal"]},
    "select_and_scatter": _GRAD_OF_POOLING,
    "rng_uniform": "XLA's stateful RNG: not reproducible, so not exportable; use jax.random",
    "rng_bit_generator": ("XLA's stateful bit generator (jax.random with the 'rbg' "
                          "implementation): use the default threefry implementation"),


    **{p: _COLLECTIVE for p in ["psum", "pmax", "pmin", "all_gather", "all_to_all",
                                "ppermute", "ragged_all_to_all", "axis_index"]},
    **{p: _EFFECT for p in ["create_token", "after_all"]},
    **{p: "mutable array references (jax.new_ref): state, not dataflow"
       for p in ["get", "swap"]},
    **{p: "calls back into Python, which an ONNX graph cannot do: compute the "
          "value with jnp/lax, or outside the exported function"
       for p in ["pure_callback", "io_callback", "debug_callback"]},
    "custom_lin": "appears only inside autodiff (linearize), never in a forward graph",
    "empty2": "allocates uninitialised memory for mutable refs",
    "eq_to": "internal symbolic-shape comparison", "le_to": "internal symbolic-shape comparison",
    "lt_to": "internal symbolic-shape comparison",
})
