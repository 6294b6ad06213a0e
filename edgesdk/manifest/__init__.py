"""The manifest (edgesdk.yaml), schema_version 1: pydantic models, safe YAML loading, clear errors.

Every problem becomes one ManifestError naming the field path (e.g. `preprocess.steps[1].resize.size`)
and what is allowed. Everything that can be checked from the file alone is checked here; checks
that need the model itself come after the model is loaded.

  schema.py     the pydantic models, the step tables, the views the pipeline and templates read
  files.py      the files a manifest names besides the model: labels, calibration data
  translate.py  a pydantic ValidationError -> one ManifestError (field path, allowed values)
  checks.py     rules that span fields or touch the file system
  loading.py    YAML / mapping / command-line overrides -> a validated Manifest
"""

from edgesdk.manifest.files import calibration_files, read_labels
from edgesdk.manifest.loading import load_manifest, manifest_from_dict, with_overrides
from edgesdk.manifest.schema import (
    MODEL_SUFFIXES,
    NAME_PATTERN,
    POST_STEPS,
    PRE_STEPS,
    SCHEMA_VERSION,
    SEMVER_PATTERN,
    TENSOR_NAME_PATTERN,
    AccuracyBudget,
    CalibrationSpec,
    EncryptionSpec,
    GoldenSpec,
    Manifest,
    ModelSpec,
    OptimizeSpec,
    OutputSpec,
    ParitySpec,
    PostprocessSpec,
    PreprocessSpec,
    PruneSpec,
    QuantizationSpec,
    TensorSpec,
    json_schema,
    normalized_step,
    step_op,
)

__all__ = [
    "MODEL_SUFFIXES",
    "NAME_PATTERN",
    "POST_STEPS",
    "PRE_STEPS",
    "SCHEMA_VERSION",
    "SEMVER_PATTERN",
    "TENSOR_NAME_PATTERN",
    "AccuracyBudget",
    "CalibrationSpec",
    "EncryptionSpec",
    "GoldenSpec",
    "Manifest",
    "ModelSpec",
    "OptimizeSpec",
    "OutputSpec",
    "ParitySpec",
    "PostprocessSpec",
    "PreprocessSpec",
    "PruneSpec",
    "QuantizationSpec",
    "TensorSpec",
    "calibration_files",
    "json_schema",
    "load_manifest",
    "manifest_from_dict",
    "normalized_step",
    "read_labels",
    "step_op",
    "with_overrides",
]
