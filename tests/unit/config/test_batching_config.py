"""Batching parameters in TF Serving's text format (serving/config/batching.py): defaults
for missing fields, bad values named, a model's own file over the server's."""
import pytest

from serving.config.batching import (
    PER_MODEL_FILE,
    BatchingConfigError,
    BatchingOptions,
    options_for_model,
)


def test_parameters_file_is_read_with_tf_serving_defaults_for_missing_fields():
    options = BatchingOptions.from_text(
        "max_batch_size { value: 128 }\nbatch_timeout_micros { value: 500 }\n"
        "allowed_batch_sizes: 32\nallowed_batch_sizes: 128\npad_variable_length_inputs: true")
    assert (options.max_batch_size, options.batch_timeout_micros) == (128, 500)
    assert options.allowed_batch_sizes == (32, 128) and options.pad_variable_length_inputs
    assert options.max_enqueued_batches == 10 and not options.enable_large_batch_splitting


@pytest.mark.parametrize("text, message", [
    ("max_batch_size { value: 0 }", "max_batch_size must be >= 1, got 0"),
    ("batch_timeout_micros { value: -5 }", "batch_timeout_micros must be >= 0, got -5"),
    ("num_batch_threads { value: 0 }", "num_batch_threads must be >= 1, got 0"),
    ("max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 2",
     r"strictly increasing, got \[4, 2\]"),
    ("max_batch_size { value: 8 } allowed_batch_sizes: 4", r"\(4\) must equal max_batch_size \(8\)"),
    ("max_batch_sise { value: 8 }", 'has no field named "max_batch_sise"'),
])
def test_bad_parameters_are_refused_with_the_bad_value(text, message):
    with pytest.raises(BatchingConfigError, match=message):
        BatchingOptions.from_text(text)


def test_a_model_s_own_parameters_file_overrides_the_global_one(tmp_path):
    version = tmp_path / "model" / "1"
    version.mkdir(parents=True)
    default = BatchingOptions(max_batch_size=64)
    assert options_for_model(default, str(version)) is default
    (tmp_path / "model" / PER_MODEL_FILE).write_text("max_batch_size { value: 8 }")
    assert options_for_model(default, str(version)).max_batch_size == 8
    (version / PER_MODEL_FILE).write_text("max_batch_size { value: 4 }")
    assert options_for_model(default, str(version)).max_batch_size == 4
