"""Configuration, read once and checked when read: Settings (flags and environment), the
model_config_list, batching and monitoring configs, the limits; and the process setup that
must happen before TensorFlow loads (GPUs, TensorFlow's start-up logs)."""
