"""The one private TensorFlow API the server uses (Session._make_callable_from_options, behind
wrappers.base.session_callable), pinned against session.run: a TensorFlow that changes it
fails here, loudly, instead of in production."""
import threading

import numpy as np
import pytest
import tensorflow as tf

from wrappers.base import session_callable

v1 = tf.compat.v1


@pytest.fixture(scope="module")
def session():
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        tf.add(tf.multiply(x, 2.0), 1.0, name="y")
        words = v1.placeholder(tf.string, [], name="word")
        tf.strings.join([words, words], name="twice")
    with v1.Session(graph=graph) as session:
        yield session


def test_it_computes_what_session_run_computes(session):
    call = session_callable(session, ("x:0",), ("y:0",))
    rows = np.random.default_rng(3).normal(size=(5, 1)).astype(np.float32)
    (ours,) = call(rows)
    np.testing.assert_array_equal(ours, session.run("y:0", {"x:0": rows}))


def test_it_skips_the_static_shape_check_session_run_makes_as_tf_serving_does(session):
    # TF Serving feeds [2.0, 3.0, 4.0] to half_plus_two's [-1, 1] input; so must we.
    flat = np.array([2.0, 3.0, 4.0], np.float32)
    with pytest.raises(ValueError, match="Cannot feed value of shape"):
        session.run("y:0", {"x:0": flat})
    (ours,) = session_callable(session, ("x:0",), ("y:0",))(flat)
    assert ours.tolist() == [5.0, 7.0, 9.0]


def test_a_scalar_string_comes_back_as_bytes_which_the_wrapper_turns_into_an_array(session):
    (value,) = session_callable(session, ("word:0",), ("twice:0",))(np.array(b"ab", object))
    assert value == b"abab"  # not an ndarray: wrappers.base._as_array makes it one


def _thread_recording_session():
    """A graph whose one op (a py_func) notes the thread that runs it; one inter-op thread,
    as the server configures its sessions."""
    seen = []

    def note(value):
        seen.append(threading.get_ident())
        return value

    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None], name="x")
        tf.identity(v1.py_func(note, [x], tf.float32), name="y")
    config = v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    return v1.Session(graph=graph, config=config), seen


def test_inline_runs_every_op_in_the_calling_thread_and_the_default_on_the_pool():
    session, seen = _thread_recording_session()
    try:
        values = np.array([1.0, 2.0], np.float32)
        (inline,) = session_callable(session, ("x:0",), ("y:0",), inline=True)(values)
        (pooled,) = session_callable(session, ("x:0",), ("y:0",))(values)
        assert inline.tolist() == pooled.tolist() == [1.0, 2.0]
        assert seen[0] == threading.get_ident()   # the inline run: this thread
        assert seen[1] != threading.get_ident()   # the pooled run: TensorFlow's thread
    finally:
        session.close()
