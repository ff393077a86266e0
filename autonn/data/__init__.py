"""Data in: files, frames and bundled sets -> validated tables -> splits -> tensors on the device.

    datasets   bundled sets by name, DataFrames and CSV/TSV/Parquet files -> ``Dataset``
    tables     a table's checks (one-line errors naming file, column and row) and its
               ColumnTransformer, fitted on the training rows
    features   that preprocessing as plain JSON (``FeatureEncoder``), applied with NumPy at
               prediction time
    split      ``Dataset`` -> seeded, stratified or grouped train/validation/test ``Splits``
    tensors    ``Splits`` -> standardised ``DeviceData`` on one device

May import: errors and the registries (task names). Nothing here knows of studies, exports or
the command line.
"""
