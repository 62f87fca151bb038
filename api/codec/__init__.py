"""TensorFlow Serving's JSON, for the REST front: bodies and errors (jsonio), tensors in row
and columnar form with b64 (tensors), tf.Example bodies and results (examples), and JSON
values as error messages quote them (text)."""
