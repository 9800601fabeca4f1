"""The network.

FastSAM weights, the runtimes (torch, OpenVINO, ONNX Runtime, TensorRT), int8 calibration,
batching across sources, and CLIP for text prompts.
"""
