"""The Open Inference Protocol's gRPC front: inference.GRPCInferenceService on the same port as
TF Serving's services. servicer.py (the RPCs), codec.py (tensors in and out), inference.proto
and its generated modules (scripts/make_oip_protos.py). The verbs are the core's (serving/oip/)."""
