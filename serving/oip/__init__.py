"""The Open Inference Protocol (KServe v2, Triton's clients) over the serving core, in numpy.

    service.py         the verbs: health, metadata, model config, infer, statistics
    repository.py      Triton's model repository: index, load, unload (in every worker)
    datatypes.py       OIP datatypes ⇄ TensorFlow ⇄ numpy ⇄ Triton's config names; tensors
                       from and to value lists and raw bytes, every declared size checked first
    classification.py  Triton's classification extension
    statistics.py      Triton's statistics from the server's own metrics
    settings.py        what Triton answers with a feature off: no shared memory region,
                       log and trace settings read-only (as set at start)
Both fronts (api/oip/ for REST under /v2, grpc_api/oip/ for inference.GRPCInferenceService)
call these; neither Flask nor grpc is imported here.
"""
