"""The tasks autonn learns, by name: what every registry and the data layer agree on."""

REGRESSION, BINARY, MULTICLASS = "regression", "binary", "multiclass"
TASKS = (REGRESSION, BINARY, MULTICLASS)
CLASSIFICATION = (BINARY, MULTICLASS)
