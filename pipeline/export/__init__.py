"""Export stage: a trained run -> onnx/ (fp32 and int8 ONNX graphs, checked against TF)."""
