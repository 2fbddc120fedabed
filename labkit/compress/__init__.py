"""Make a trained model smaller and faster: pruning, quantization, distillation.

Each module holds one method, as verbs on a model (a trailing `_` changes it in place):
`labkit.compress.prune`, `labkit.compress.quantize`, `labkit.compress.distill`.
"""
