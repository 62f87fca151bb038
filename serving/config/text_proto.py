"""TF Serving's small config messages that tensorflow-serving-api does not ship (monitoring,
SSL), declared here with TF Serving's package, names and field numbers, and their text files
read with protobuf's own parser, so a syntax error reads as tensorflow_model_server's would."""
from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from serving.config.model_config import ConfigError

FIELD = descriptor_pb2.FieldDescriptorProto


def message_class(file_name: str, messages: dict[str, list[tuple]], name: str):
    """Build `tensorflow.serving.<name>` from {message: [(field, number, type, type_name?)]}
    in a private pool (no clash should the real _pb2 module ever appear)."""
    proto = descriptor_pb2.FileDescriptorProto(name=file_name, package="tensorflow.serving",
                                               syntax="proto3")
    for message_name, fields in messages.items():
        message = proto.message_type.add(name=message_name)
        for field_name, number, kind, *type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind,
                                      label=FIELD.LABEL_OPTIONAL)
            if type_name:
                field.type_name = type_name[0]
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))


def read(path: str, message_class, what: str):
    """The text file at `path` parsed into a new message; ConfigError naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc.strerror}") from None
    message = message_class()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ConfigError(f"Error parsing text-format {message.DESCRIPTOR.full_name} in "
                          f"{path}: {exc}") from None
    return message
