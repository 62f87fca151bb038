"""The model_config_list text file (serving/config/model_config.py): every entry served
with its labels; an unusable file refused with the problem named."""

import pytest

from serving.config.model_config import ConfigError, config_from_settings
from serving.config.settings import Settings
from tests.support.helpers import write_config


def test_model_config_file_serves_every_entry_with_its_labels(tmp_path):
    config = write_config(tmp_path / "models.config", {"a": tmp_path / "a", "b": "relative/b"},
                          extra='    version_labels { key: "stable" value: 1 }\n')
    entries = config_from_settings(Settings.load(environ={"MODEL_CONFIG_FILE": str(config)}))
    a, b = entries.model_config_list.config
    assert (a.name, dict(a.version_labels)) == ("a", {"stable": 1})
    assert b.base_path == str(tmp_path / "relative" / "b")  # relative to the config file


@pytest.mark.parametrize("text, message", [
    ("improperly formatted file", 'has no field named "improperly"'),
    ('model_config_list { config { name: "m" } }', "'base_path' is required"),
    ('model_config_list { config { name: "m" base_path: "/a" } config { name: "m" base_path: "/b" } }',
     "duplicate name"),
    ('model_config_list { config { name: "m" base_path: "/a" model_platform: "onnx" } }',
     "model_platform 'onnx' is not supported"),
])
def test_unusable_config_files_are_refused_with_the_problem(tmp_path, text, message):
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config_from_settings(Settings.load(environ={}, overrides={"model_config_file": str(path)}))
