"""Multimodal models prompted on the benchmark: prompts, one module per provider, the answer
parser, the response cache, cost and budget, the harness and `vpt vlm`."""
