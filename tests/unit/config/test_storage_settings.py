"""Base paths in object storage pass through the settings and the config as given."""
from serving.config.model_config import config_from_settings, read_model_config
from serving.config.settings import Settings


def test_a_bucket_base_path_flag_is_kept_as_a_url_not_made_absolute():
    settings = Settings.load(["--model_base_path=s3://bucket/models/m", "--model_name=m",
                              "--model_cache_dir=/var/cache/models"], environ={})
    (entry,) = config_from_settings(settings).model_config_list.config
    assert entry.base_path == "s3://bucket/models/m"
    assert settings.model_cache_dir == "/var/cache/models"


def test_tf_servings_image_variables_name_a_model_under_a_bucket():
    settings = Settings.load(environ={"MODEL_BASE_PATH": "gs://bucket/models/",
                                      "MODEL_NAME": "resnet"})
    assert settings.model_base_path == "gs://bucket/models/resnet"


def test_a_config_file_keeps_every_remote_scheme_beside_a_relative_local_path(tmp_path):
    urls = ["s3://b/m", "gs://b/m", "az://c/m", "abfss://c@acct.dfs.core.windows.net/m"]
    text = "".join(f'config {{ name: "m{i}" base_path: "{url}" model_platform: "tensorflow" }}'
                   for i, url in enumerate([*urls, "local/m"]))
    path = tmp_path / "models.config"
    path.write_text(f"model_config_list {{ {text} }}")
    config = read_model_config(str(path))
    assert [c.base_path for c in config.model_config_list.config] == [
        *urls, str(tmp_path / "local" / "m")]
