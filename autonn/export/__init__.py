"""Model files: a trained pipeline as data, its file formats, their integrity, and loading back.

    pipeline    the network wrapped with its input scaling and output transform (ScoringModule)
    bundle      that pipeline as data: a JSON manifest (columns, encoding, parameters, labels)
                plus named tensors; nothing in it is executable
    formats     the registry of file formats, each written and read by its own module:
                state_dict, onnx_model, onnx_raw (the preprocessing in the graph too),
                torchscript, exported_program, mlflow_model
    safetensors_file  a state_dict file read and checked with the standard library (no torch)
    archives    the zip archives (TorchScript, ExportedProgram): signature in the zip comment
    signing     per-user HMAC signatures: verified, foreign or unsigned files
    mlflow_signature, onnx_metadata   what MLflow and ONNX exports declare to other tools: a
                typed signature and minimal requirements; standard ONNX metadata
    integrity   content digests, the private AUTONN_HOME, the record of autonn's own exports
    staging     writing into place from a private mode-700 folder, one rename, no link followed
    bytecode    __pycache__ in an MLflow export: accepted only as its signed source's own code
    predictor   ``autonn.load``: any export back as a predictor of raw rows

May import: the core (model, weights, data/, registries) and errors. Nothing here knows of
studies or trials: ``autonn.search.exporting`` turns a study's trial into a bundle.
"""
