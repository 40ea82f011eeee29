"""Optimised serving forms of a blessed model (ONNX, quantised ONNX), each published only when its scores agree
with the SavedModel's on held-out rows."""
